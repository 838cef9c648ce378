//! The one reader: every read of the store, written once over a [`Dialect`]'s SQL.
//!
//! Paging, clamping and turning rows into messages and logs happen here; what a dialect
//! supplies is the text of each statement and the decoding of its rows.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

use crate::analytics::{Analytics, DayCount};
use crate::dialect::Dialect;
use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind, ExecutionFacts, Message, PluginLog};
use crate::query::{
    AnalyticsQuery, CursorPage, ExecutionPosition, ExecutionQuery, MAX_SERIES_POINTS,
    SessionPosition, SessionQuery, far_future, far_past,
};
use crate::rollup::{Rollup, RollupRow, day_of, hour_of};
use crate::store::{Counts, Page, SessionSummary, into_page, page_fetch_limit, sql_limit};

/// Hours the execution log asks the rollup for at a time when it skips hours without a match.
const CANDIDATE_HOURS: i64 = 64;

/// Reads through a pool of connections of one database.
pub(crate) struct Reader<D: Dialect> {
    pool: Pool<D::Db>,
}

impl<D: Dialect> Reader<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
{
    pub(crate) fn new(pool: Pool<D::Db>) -> Self {
        Self { pool }
    }

    pub(crate) async fn short_memory(&self, session_id: &str, n: usize) -> Result<Vec<Message>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(D::SHORT_MEMORY)
            .bind(session_id)
            .bind(sql_limit(n))
            .fetch_all(&self.pool)
            .await?;
        let mut messages = messages(events::<D>(&rows)?)?;
        messages.reverse();
        Ok(messages)
    }

    pub(crate) async fn messages(&self, session_id: &str) -> Result<Vec<Message>> {
        let rows = sqlx::query(D::MESSAGES)
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        messages(events::<D>(&rows)?)
    }

    pub(crate) async fn timeline(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<Event>> {
        let (limit, fetch) = page_fetch_limit(limit);
        let rows = sqlx::query(D::TIMELINE)
            .bind(session_id)
            .bind(after_seq.unwrap_or(0))
            .bind(fetch)
            .fetch_all(&self.pool)
            .await?;
        Ok(into_page(events::<D>(&rows)?, limit, |e| e.seq))
    }

    pub(crate) async fn timeline_of(
        &self,
        session_id: &str,
        kinds: &[EventKind],
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<Event>> {
        if kinds.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_after: None,
            });
        }
        let (limit, fetch) = page_fetch_limit(limit);
        let rows = sqlx::query(D::TIMELINE_OF_KINDS)
            .bind(session_id)
            .bind(after_seq.unwrap_or(0))
            .bind(fetch)
            .bind(D::kinds(kinds))
            .fetch_all(&self.pool)
            .await?;
        Ok(into_page(events::<D>(&rows)?, limit, |e| e.seq))
    }

    pub(crate) async fn counts(&self, session_id: &str, short_limit: usize) -> Result<Counts> {
        let row = sqlx::query(D::COUNTS)
            .bind(session_id)
            .bind(sql_limit(short_limit))
            .fetch_one(&self.pool)
            .await?;
        D::counts(&row)
    }

    pub(crate) async fn sessions(&self) -> Result<Vec<SessionSummary>> {
        let rows = sqlx::query(D::SESSIONS).fetch_all(&self.pool).await?;
        rows.iter().map(D::session).collect()
    }

    pub(crate) async fn session_page(
        &self,
        query: &SessionQuery,
    ) -> Result<CursorPage<SessionSummary>> {
        let (limit, fetch) = page_fetch_limit(query.limit);
        let below = match &query.before {
            Some(cursor) => SessionPosition::parse(cursor)?,
            None => SessionPosition::first(),
        };
        let pattern = query.search.as_deref().map(|search| {
            let escaped = D::text(search)
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let rows = sqlx::query(D::SESSION_PAGE)
            .bind(D::ts(below.last_activity))
            .bind(below.id.as_str())
            .bind(pattern.as_deref())
            .bind(fetch)
            .bind(query.owner.as_deref())
            .fetch_all(&self.pool)
            .await?;
        let sessions = rows.iter().map(D::session).collect::<Result<Vec<_>>>()?;
        Ok(into_cursor_page(sessions, limit, |s| {
            SessionPosition {
                last_activity: s.last_activity,
                id: s.id.clone(),
            }
            .cursor()
        }))
    }

    pub(crate) async fn executions(&self, query: &ExecutionQuery) -> Result<CursorPage<PluginLog>> {
        let (limit, fetch) = page_fetch_limit(query.limit);
        let before = query
            .before
            .as_ref()
            .map(ExecutionPosition::parse)
            .transpose()?;
        let filters = Filters {
            plugin: query.plugin.as_deref().map(D::text).map(|t| t.into_owned()),
            status: query.status.as_deref().map(D::text).map(|t| t.into_owned()),
            source: query.source.map(|source| source.as_str()),
            actor: query.actor.as_deref().map(D::text).map(|t| t.into_owned()),
        };
        let since = query.since.unwrap_or_else(far_past);
        let until = query.until.unwrap_or_else(far_future);
        let events = match &query.session_id {
            Some(session_id) => {
                let before_seq = before.map_or(i64::MAX, |position| position.seq);
                let rows = sqlx::query(D::SESSION_EXECUTIONS)
                    .bind(session_id.as_str())
                    .bind(before_seq)
                    .bind(D::ts(since))
                    .bind(D::ts(until))
                    .bind(filters.plugin.as_deref())
                    .bind(filters.status.as_deref())
                    .bind(filters.source)
                    .bind(fetch)
                    .bind(filters.actor.as_deref())
                    .fetch_all(&self.pool)
                    .await?;
                events::<D>(&rows)?
            }
            None => {
                let mut upper = ExecutionPosition::start_of(until);
                if let Some(before) = before {
                    upper = upper.min(before);
                }
                if query.filters_by_rollup() {
                    self.executions_in_matching_hours(&filters, since, upper, fetch)
                        .await?
                } else {
                    self.executions_below(&filters, since, &upper, fetch)
                        .await?
                }
            }
        };
        let logs = events
            .into_iter()
            .map(PluginLog::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(into_cursor_page(logs, limit, |log| {
            ExecutionPosition {
                ts: log.timestamp,
                session_id: log.session_id.clone(),
                seq: log.seq,
            }
            .cursor()
        }))
    }

    /// Executions below `upper` and at or after `since`, newest first, at most `fetch`.
    async fn executions_below(
        &self,
        filters: &Filters,
        since: DateTime<Utc>,
        upper: &ExecutionPosition,
        fetch: i64,
    ) -> Result<Vec<Event>> {
        let rows = sqlx::query(D::EXECUTIONS)
            .bind(D::ts(upper.ts))
            .bind(upper.session_id.as_str())
            .bind(upper.seq)
            .bind(D::ts(since))
            .bind(filters.plugin.as_deref())
            .bind(filters.status.as_deref())
            .bind(filters.source)
            .bind(fetch)
            .bind(filters.actor.as_deref())
            .fetch_all(&self.pool)
            .await?;
        events::<D>(&rows)
    }

    /// Like [`Reader::executions_below`], but scanning only the hours the rollup says may hold
    /// a match: a filter that matches rarely, or only long ago, does not read every execution
    /// in between.
    async fn executions_in_matching_hours(
        &self,
        filters: &Filters,
        since: DateTime<Utc>,
        mut upper: ExecutionPosition,
        fetch: i64,
    ) -> Result<Vec<Event>> {
        let wanted = usize::try_from(fetch).unwrap_or(usize::MAX);
        let from_hour = hour_of(since);
        let mut below_hour = hour_of(upper.ts) + 1;
        let mut found = Vec::new();
        while found.len() < wanted {
            let rows = sqlx::query(D::CANDIDATE_HOURS)
                .bind(below_hour)
                .bind(from_hour)
                .bind(filters.plugin.as_deref())
                .bind(filters.source)
                .bind(filters.status.as_deref())
                .bind(CANDIDATE_HOURS)
                .fetch_all(&self.pool)
                .await?;
            let hours = rows.iter().map(D::number).collect::<Result<Vec<_>>>()?;
            let Some(&lowest) = hours.last() else {
                break;
            };
            // Consecutive hours are scanned as one range.
            for run in hours.chunk_by(|newer, older| *newer == older + 1) {
                let (Some(&top), Some(&bottom)) = (run.first(), run.last()) else {
                    continue;
                };
                let end = ExecutionPosition::start_of(hour_start(top + 1)?);
                if end < upper {
                    upper = end;
                }
                let start = hour_start(bottom)?.max(since);
                let rest = i64::try_from(wanted - found.len()).unwrap_or(i64::MAX);
                found.extend(self.executions_below(filters, start, &upper, rest).await?);
                if found.len() >= wanted {
                    break;
                }
                upper = ExecutionPosition::start_of(start);
            }
            below_hour = lowest;
        }
        Ok(found)
    }

    pub(crate) async fn analytics(&self, query: &AnalyticsQuery) -> Result<Analytics> {
        let (since, until) = query.aligned()?;
        let rows = match &query.actor {
            None => {
                let rows = sqlx::query(D::ROLLUP)
                    .bind(hour_of(since))
                    .bind(hour_of(until))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(D::rollup).collect::<Result<Vec<_>>>()?
            }
            Some(actor) => self.rollup_of(actor, since, until).await?,
        };
        Ok(Analytics::from_rollup(since, until, query.bucket, &rows))
    }

    /// One key's executions in a window, summed per hour and plugin as the rollup would.
    async fn rollup_of(
        &self,
        actor: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<RollupRow>> {
        let rows = sqlx::query(D::ACTOR_EXECUTIONS)
            .bind(D::ts(since))
            .bind(D::ts(until))
            .bind(D::text(actor).as_ref())
            .fetch_all(&self.pool)
            .await?;
        let mut rollup = Rollup::default();
        for event in events::<D>(&rows)? {
            let facts = ExecutionFacts::of(&event.payload)?;
            rollup.record(
                event.timestamp,
                facts.plugin,
                facts.is_ok(),
                facts.source,
                facts.duration_ms,
            );
        }
        Ok(rollup.into_rows())
    }

    pub(crate) async fn conversations_per_day(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        owner: Option<&str>,
    ) -> Result<Vec<DayCount>> {
        if since >= until {
            return Err(StoreError::InvalidQuery(format!(
                "since ({since}) must be before until ({until})"
            )));
        }
        let first = day_of(since);
        // The day holding the last instant before `until`.
        let last = day_of(until - chrono::TimeDelta::microseconds(1));
        if last - first >= MAX_SERIES_POINTS as i64 {
            return Err(StoreError::InvalidQuery(format!(
                "the window holds more than {MAX_SERIES_POINTS} days"
            )));
        }
        let rows = sqlx::query(D::CONVERSATIONS)
            .bind(first)
            .bind(last + 1)
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
        let counted = rows.iter().map(D::day_count).collect::<Result<Vec<_>>>()?;
        (first..=last)
            .map(|day| {
                let sessions = counted
                    .iter()
                    .find(|(d, _)| *d == day)
                    .map_or(0, |(_, n)| *n);
                Ok(DayCount {
                    day: hour_start(day * 24)?.date_naive(),
                    sessions,
                })
            })
            .collect()
    }

    pub(crate) async fn plugin_logs(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<PluginLog>> {
        let (limit, fetch) = page_fetch_limit(limit);
        let rows = sqlx::query(D::PLUGIN_LOGS)
            .bind(session_id)
            .bind(after_seq.unwrap_or(0))
            .bind(fetch)
            .fetch_all(&self.pool)
            .await?;
        let logs = events::<D>(&rows)?
            .into_iter()
            .map(PluginLog::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(into_page(logs, limit, |log| log.seq))
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// The execution log's filters, as bound.
struct Filters {
    plugin: Option<String>,
    status: Option<String>,
    source: Option<&'static str>,
    actor: Option<String>,
}

/// The start of an hour counted from the Unix epoch.
fn hour_start(hour: i64) -> Result<DateTime<Utc>> {
    hour.checked_mul(3600)
        .and_then(|secs| Utc.timestamp_opt(secs, 0).single())
        .ok_or_else(|| StoreError::InvalidQuery(format!("hour {hour} is out of range")))
}

/// Cuts a fetch of `limit + 1` items into a page that continues before the last one kept.
fn into_cursor_page<T>(
    mut items: Vec<T>,
    limit: usize,
    cursor: impl Fn(&T) -> crate::query::Cursor,
) -> CursorPage<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_before = if more { items.last().map(cursor) } else { None };
    CursorPage { items, next_before }
}

fn events<D: Dialect>(rows: &[<D::Db as Database>::Row]) -> Result<Vec<Event>> {
    rows.iter().map(D::event).collect()
}

fn messages(events: Vec<Event>) -> Result<Vec<Message>> {
    events.into_iter().map(Message::try_from).collect()
}
