//! `/api/analytics` and the original frontend's `/analytics`: plugin calls over a window, from
//! the store's hourly rollup in one query; for a user key (or an admin asking about one key),
//! that key's own calls and sessions, counted from the execution log.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Days, TimeDelta, Utc};
use codex_store::{AnalyticsQuery as StoreQuery, Bucket, SessionQuery};

use crate::access::Caller;
use crate::dto::analytics::{
    AnalyticsQuery, AnalyticsResponse, DaysQuery, OriginalAnalytics, RecentConversation,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, QueryParams};
use crate::state::AppState;

/// The window `/api/analytics` counts when it is given no `since`.
const DEFAULT_WINDOW: TimeDelta = TimeDelta::hours(24);

/// Days `/analytics` counts when it is given no `days`, and the most it counts.
const DEFAULT_DAYS: u32 = 7;
const MAX_DAYS: u32 = 366;

/// Sessions `/analytics` lists as recent conversations.
const RECENT_CONVERSATIONS: usize = 10;

/// Plugin calls, errors, error rate and p50/p95/p99 duration over a window (default: the last
/// 24 hours), per plugin, per hour or day, and per source. The window widens to whole buckets
/// and the answer gives the one counted.
#[utoipa::path(get, path = "/api/analytics", operation_id = "get_analytics", tag = "analytics",
    params(AnalyticsQuery),
    responses(
        (status = 200, body = AnalyticsResponse),
        (status = 400, description = "A bad query parameter, an empty or too long window", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn analytics(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<AnalyticsQuery>,
) -> Result<Json<AnalyticsResponse>, ApiError> {
    let actor = actor_of(&caller, super::actor_filter(query.actor)?)?;
    let until = query.until.unwrap_or_else(Utc::now);
    let since = query.since.unwrap_or(until - DEFAULT_WINDOW);
    let bucket = query.bucket.unwrap_or_default().into();
    let analytics = state
        .store
        .analytics(&StoreQuery::new(since, until, bucket).with_actor(actor))
        .await?;
    Ok(Json(analytics.into()))
}

/// What the original frontend's analytics page reads, for today and the `days - 1` days
/// before it (UTC): sessions with messages per day, plugin calls per plugin, and the most
/// recently active sessions.
#[utoipa::path(get, path = "/analytics", operation_id = "get_original_analytics", tag = "analytics",
    params(DaysQuery),
    responses(
        (status = 200, body = OriginalAnalytics),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn original(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<DaysQuery>,
) -> Result<Json<OriginalAnalytics>, ApiError> {
    // A user key sees its own calls and sessions; admins see every key's.
    let actor = actor_of(&caller, None)?;
    let owner = caller.session_filter();
    let days = query.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::InvalidRequest(format!(
            "days must be between 1 and {MAX_DAYS}, not {days}"
        )));
    }
    let now = Utc::now();
    let since = first_day(now, days)?;
    let window = StoreQuery::new(since, now, Bucket::Day).with_actor(actor);
    let mut recent = SessionQuery::new(RECENT_CONVERSATIONS);
    recent.owner = owner.clone();
    let (analytics, per_day, recent) = tokio::try_join!(
        state.store.analytics(&window),
        state
            .store
            .conversations_per_day(since, now, owner.as_deref()),
        state.store.session_page(&recent),
    )?;
    let mut model_usage: BTreeMap<String, u64> = state
        .plugins
        .list()
        .iter()
        .filter(|entry| entry.is_enabled() && caller.may_run(&entry.info.name))
        .map(|entry| (entry.info.name.clone(), 0))
        .collect();
    for plugin in analytics.plugins {
        model_usage.insert(plugin.plugin, plugin.calls);
    }
    Ok(Json(OriginalAnalytics {
        days,
        daily_conversations: per_day
            .into_iter()
            .map(|day| (day.day.format("%Y-%m-%d").to_string(), day.sessions))
            .collect(),
        model_usage,
        recent_conversations: recent
            .items
            .into_iter()
            .map(|s| RecentConversation {
                session_id: s.id,
                timestamp: s.last_activity,
                created_at: s.created_at,
                last_activity: s.last_activity,
                message_count: s.message_count,
                title: s.title,
            })
            .collect(),
    }))
}

/// Whose calls to count: a user key's own (asking about another key is 403), or for an admin
/// the key it names, if any.
fn actor_of(caller: &Caller, asked: Option<String>) -> Result<Option<String>, ApiError> {
    if caller.is_admin() {
        return Ok(asked);
    }
    let own = caller.session_filter();
    match asked {
        Some(asked) if Some(&asked) != own.as_ref() => Err(ApiError::Forbidden(
            "a user key sees only its own calls: leave actor out".to_owned(),
        )),
        _ => Ok(own),
    }
}

/// Midnight (UTC) of the first of `days` days ending today.
fn first_day(now: DateTime<Utc>, days: u32) -> Result<DateTime<Utc>, ApiError> {
    now.date_naive()
        .checked_sub_days(Days::new(u64::from(days - 1)))
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .ok_or_else(|| ApiError::InvalidRequest(format!("{days} days reach before the calendar")))
}
