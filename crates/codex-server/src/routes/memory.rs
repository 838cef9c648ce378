//! `/memory` and `/memory/audit/{session_id}`: a session's memory, its reset, and the whole
//! timeline of its events.

use axum::Json;
use axum::extract::{Path, State};

use crate::dto::memory::{
    AuditResponse, DEFAULT_PAGE, DEFAULT_SESSION, MemoryMode, MemoryQuery, MemoryResponse,
    PageQuery, ResetResponse, SessionQuery,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, QueryParams};
use crate::state::AppState;

/// A session's messages: `short` (default) the last N since the last reset, as a model would
/// get them; `long` every message. An unknown session has none.
#[utoipa::path(get, path = "/memory", operation_id = "get_memory", tag = "memory",
    params(MemoryQuery),
    responses(
        (status = 200, body = MemoryResponse),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<MemoryQuery>,
) -> Result<Json<MemoryResponse>, ApiError> {
    let session_id = session_or_default(query.session_id)?;
    state.owners.check_read(&caller, &session_id).await?;
    let mode = query.mode.unwrap_or_default();
    let limit = state.config.short_limit;
    let messages = match mode {
        MemoryMode::Short => state.store.short_memory(&session_id, limit).await?,
        MemoryMode::Long => state.store.messages(&session_id).await?,
    };
    let counts = state.store.counts(&session_id, limit).await?;
    Ok(Json(MemoryResponse {
        session_id,
        mode,
        messages: messages.into_iter().map(Into::into).collect(),
        counts: counts.into(),
    }))
}

/// Resets a session's short memory. Nothing is deleted: the audit timeline keeps every event
/// and shows the reset. An unknown session stays unknown: nothing is stored and `seq` is null.
#[utoipa::path(delete, path = "/memory", operation_id = "reset_memory", tag = "memory",
    params(SessionQuery),
    responses(
        (status = 200, body = ResetResponse),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn reset(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<SessionQuery>,
) -> Result<Json<ResetResponse>, ApiError> {
    let session_id = session_or_default(query.session_id)?;
    state.owners.check_read(&caller, &session_id).await?;
    let reset = state.store.reset_existing(&session_id).await?;
    match &reset {
        Some(reset) => tracing::info!(session_id = %session_id, seq = reset.seq, "memory reset"),
        None => {
            tracing::debug!(session_id = %session_id, "reset of an unknown session: nothing to do")
        }
    }
    let message = match &reset {
        Some(_) => format!("short memory of session '{session_id}' reset"),
        None => format!("session '{session_id}' has no memory to reset"),
    };
    Ok(Json(ResetResponse {
        session_id,
        message,
        seq: reset.as_ref().map(|reset| reset.seq),
        timestamp: reset.map(|reset| reset.timestamp),
    }))
}

/// Every event of a session in order (messages, plugin executions, tool calls, resets,
/// errors), a page at a time, with the message counts. An unknown session has none.
#[utoipa::path(get, path = "/memory/audit/{session_id}", operation_id = "get_audit", tag = "memory",
    params(("session_id" = String, Path, description = "The session", min_length = 1, max_length = 256), PageQuery),
    responses(
        (status = 200, body = AuditResponse),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(session_id): Path<String>,
    QueryParams(page): QueryParams<PageQuery>,
) -> Result<Json<AuditResponse>, ApiError> {
    // No session can have an id the store refuses: say so rather than answer it empty.
    codex_store::validate_session_id(&session_id)?;
    state.owners.check_read(&caller, &session_id).await?;
    let limit = page_limit(page.limit)?;
    let actor = super::actor_filter(page.actor)?;
    let short_limit = state.config.short_limit;
    let (timeline, counts, short, full) = tokio::try_join!(
        state.store.timeline(&session_id, page.after, limit),
        state.store.counts(&session_id, short_limit),
        state.store.short_memory(&session_id, short_limit),
        state.store.messages(&session_id),
    )?;
    let actor = actor.as_deref();
    let events = timeline
        .items
        .into_iter()
        .filter(|event| actor.is_none() || event.actor() == actor)
        .map(Into::into)
        .collect();
    Ok(Json(AuditResponse {
        session_id,
        short: short.into_iter().map(Into::into).collect(),
        full: full.into_iter().map(Into::into).collect(),
        count: counts.into(),
        events,
        next_after: timeline.next_after,
        counts: counts.into(),
    }))
}

/// The session named, or `default`; an empty or oversized id is refused.
pub(crate) fn session_or_default(session_id: Option<String>) -> Result<String, ApiError> {
    let session_id = session_id.unwrap_or_else(|| DEFAULT_SESSION.to_owned());
    codex_store::validate_session_id(&session_id)?;
    Ok(session_id)
}

/// The page size asked for, checked against the store's maximum.
pub(crate) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        limit @ 1..=codex_store::MAX_PAGE_SIZE => Ok(limit),
        limit => Err(ApiError::InvalidRequest(format!(
            "limit must be between 1 and {}, not {limit}",
            codex_store::MAX_PAGE_SIZE
        ))),
    }
}
