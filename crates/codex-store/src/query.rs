//! What the listings across sessions are asked (the execution log, the session list, the
//! analytics), and the opaque cursors their pages continue from.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, DurationRound, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::event::{ExecutionSource, validate_session_id};

/// Where a page of a listing ended, to ask for the next one (`before`). Opaque to clients:
/// made by the store, and only meaningful to the listing that made it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Cursor {
    type Err = std::convert::Infallible;

    /// Any text is taken; a listing refuses one it did not make when it is used.
    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Cursor(text.to_owned()))
    }
}

impl From<String> for Cursor {
    fn from(text: String) -> Self {
        Cursor(text)
    }
}

/// One page of a listing that runs newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CursorPage<T> {
    pub items: Vec<T>,
    /// The `before` that fetches the next (older) page; `None` on the last one.
    pub next_before: Option<Cursor>,
}

/// Plugin executions across sessions, newest first; every filter is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionQuery {
    pub plugin: Option<String>,
    /// `ok`, or an error code (`timeout`, `invalid_input`, ...).
    pub status: Option<String>,
    pub source: Option<ExecutionSource>,
    pub session_id: Option<String>,
    /// Only executions this key asked for (the events' `actor`).
    pub actor: Option<String>,
    /// Only executions at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only executions before this instant.
    pub until: Option<DateTime<Utc>>,
    /// The previous page's [`CursorPage::next_before`].
    pub before: Option<Cursor>,
    /// Clamped to `1..=MAX_PAGE_SIZE`.
    pub limit: usize,
}

impl ExecutionQuery {
    /// Every execution, `limit` per page.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    pub fn with_plugin(mut self, plugin: impl Into<String>) -> Self {
        self.plugin = Some(plugin.into());
        self
    }

    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    pub fn with_source(mut self, source: ExecutionSource) -> Self {
        self.source = Some(source);
        self
    }

    pub fn with_session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    pub fn with_since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    pub fn with_until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    pub fn with_actor(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    pub fn with_before(mut self, before: Option<Cursor>) -> Self {
        self.before = before;
        self
    }

    /// Whether a filter the rollup can tell hours apart by is set.
    pub(crate) fn filters_by_rollup(&self) -> bool {
        self.plugin.is_some() || self.status.is_some() || self.source.is_some()
    }
}

/// Sessions, most recently active first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only sessions whose id or title contains this text, ignoring ASCII case.
    pub search: Option<String>,
    /// Only sessions this key owns (see [`crate::EventStore::claim_session`]).
    pub owner: Option<String>,
    /// The previous page's [`CursorPage::next_before`].
    pub before: Option<Cursor>,
    /// Clamped to `1..=MAX_PAGE_SIZE`.
    pub limit: usize,
}

impl SessionQuery {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    pub fn with_search(mut self, search: impl Into<String>) -> Self {
        self.search = Some(search.into());
        self
    }

    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    pub fn with_before(mut self, before: Option<Cursor>) -> Self {
        self.before = before;
        self
    }
}

/// The width of the analytics' buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    #[default]
    Hour,
    Day,
}

impl Bucket {
    pub(crate) fn hours(self) -> i64 {
        match self {
            Bucket::Hour => 1,
            Bucket::Day => 24,
        }
    }

    fn delta(self) -> TimeDelta {
        TimeDelta::hours(self.hours())
    }
}

/// The most buckets one analytics answer has (a year and more of hours).
pub const MAX_SERIES_POINTS: usize = 10_000;

/// Plugin calls over `since..until`, bucketed; the window widens to whole buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsQuery {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bucket: Bucket,
    /// Only the calls this key asked for. Counted from the execution log rather than the
    /// hourly rollup, which sums every key's calls.
    pub actor: Option<String>,
}

impl AnalyticsQuery {
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>, bucket: Bucket) -> Self {
        Self {
            since,
            until,
            bucket,
            actor: None,
        }
    }

    pub fn with_actor(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    /// The window as answered: `since` down and `until` up to bucket boundaries (UTC), so that
    /// every figure covers whole hours of the rollup, and the answer says exactly what it
    /// counted. Refuses an empty window and one of more than [`MAX_SERIES_POINTS`] buckets.
    pub fn aligned(&self) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        if self.since >= self.until {
            return Err(StoreError::InvalidQuery(format!(
                "since ({}) must be before until ({})",
                self.since, self.until
            )));
        }
        let step = self.bucket.delta();
        let too_wide = || {
            StoreError::InvalidQuery(format!(
                "the window holds more than {MAX_SERIES_POINTS} buckets; use a shorter window or day buckets"
            ))
        };
        let since = self.since.duration_trunc(step).map_err(|_| too_wide())?;
        let mut until = self.until.duration_trunc(step).map_err(|_| too_wide())?;
        if until < self.until {
            until = until.checked_add_signed(step).ok_or_else(too_wide)?;
        }
        let buckets = (until - since).num_hours() / self.bucket.hours();
        if buckets > MAX_SERIES_POINTS as i64 {
            return Err(too_wide());
        }
        Ok((since, until))
    }
}

/// Where a page of the execution log ended: executions are ordered by time, then session,
/// then sequence number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ExecutionPosition {
    pub ts: DateTime<Utc>,
    pub session_id: String,
    pub seq: i64,
}

impl ExecutionPosition {
    /// Just before every execution at `ts` (nothing at `ts` is below it).
    pub(crate) fn start_of(ts: DateTime<Utc>) -> Self {
        Self {
            ts,
            session_id: String::new(),
            seq: 0,
        }
    }

    pub(crate) fn cursor(&self) -> Cursor {
        Cursor(format!(
            "x{}.{}.{}",
            self.ts.timestamp_micros(),
            self.seq,
            hex(&self.session_id)
        ))
    }

    pub(crate) fn parse(cursor: &Cursor) -> Result<Self> {
        let bad = || StoreError::InvalidQuery(format!("`{cursor}` is not an execution cursor"));
        let rest = cursor.0.strip_prefix('x').ok_or_else(bad)?;
        let mut parts = rest.splitn(3, '.');
        let micros: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let seq: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let session_id = parts.next().and_then(unhex).ok_or_else(bad)?;
        let ts = Utc.timestamp_micros(micros).single().ok_or_else(bad)?;
        Ok(Self {
            ts,
            session_id,
            seq,
        })
    }
}

/// Where a page of the session list ended: sessions are ordered by last activity (newest
/// first), then id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionPosition {
    pub last_activity: DateTime<Utc>,
    pub id: String,
}

impl SessionPosition {
    /// Before every session: no activity is later.
    pub(crate) fn first() -> Self {
        Self {
            last_activity: far_future(),
            id: String::new(),
        }
    }

    pub(crate) fn cursor(&self) -> Cursor {
        Cursor(format!(
            "s{}.{}",
            self.last_activity.timestamp_micros(),
            hex(&self.id)
        ))
    }

    pub(crate) fn parse(cursor: &Cursor) -> Result<Self> {
        let bad = || StoreError::InvalidQuery(format!("`{cursor}` is not a session cursor"));
        let rest = cursor.0.strip_prefix('s').ok_or_else(bad)?;
        let (micros, id) = rest.split_once('.').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let id = unhex(id).ok_or_else(bad)?;
        validate_session_id(&id).map_err(|_| bad())?;
        Ok(Self {
            last_activity: Utc.timestamp_micros(micros).single().ok_or_else(bad)?,
            id,
        })
    }
}

/// Later than any commit: the upper end of a listing nobody bounded. Year 9999, which both
/// databases store.
pub(crate) fn far_future() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Earlier than any commit: the lower end of a listing nobody bounded.
pub(crate) fn far_past() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

/// Session ids are any text; in a cursor they are hex, so a cursor is safe in a URL as it is.
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_url_safe() {
        let at = Utc
            .timestamp_micros(1_790_000_000_123_456)
            .single()
            .unwrap();
        let position = ExecutionPosition {
            ts: at,
            session_id: "ü s/&?=.x".to_owned(),
            seq: 42,
        };
        let cursor = position.cursor();
        assert!(
            cursor
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        );
        assert_eq!(ExecutionPosition::parse(&cursor).unwrap(), position);
        let session = SessionPosition {
            last_activity: at,
            id: "a.b".to_owned(),
        };
        assert_eq!(SessionPosition::parse(&session.cursor()).unwrap(), session);
    }

    #[test]
    fn foreign_cursors_are_refused() {
        let session = SessionPosition::first().cursor();
        for cursor in ["", "x", "x1.2", "x1.2.zz", "xa.2.61", "x1.2.6", "s1.61"] {
            assert!(
                ExecutionPosition::parse(&Cursor(cursor.into())).is_err(),
                "{cursor}"
            );
        }
        assert!(ExecutionPosition::parse(&session).is_err());
        assert!(SessionPosition::parse(&Cursor("s1.".into())).is_err());
        assert!(SessionPosition::parse(&Cursor("s1.zz".into())).is_err());
    }

    #[test]
    fn windows_widen_to_whole_buckets() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let q = AnalyticsQuery::new(
            at("2026-11-24T10:15:00Z"),
            at("2026-11-24T12:00:00Z"),
            Bucket::Hour,
        );
        assert_eq!(
            q.aligned().unwrap(),
            (at("2026-11-24T10:00:00Z"), at("2026-11-24T12:00:00Z"))
        );
        let q = AnalyticsQuery::new(
            at("2026-11-24T10:15:00Z"),
            at("2026-11-25T00:00:01Z"),
            Bucket::Day,
        );
        assert_eq!(
            q.aligned().unwrap(),
            (at("2026-11-24T00:00:00Z"), at("2026-11-26T00:00:00Z"))
        );
        let backwards = AnalyticsQuery::new(q.until, q.since, Bucket::Hour);
        assert!(matches!(
            backwards.aligned(),
            Err(StoreError::InvalidQuery(_))
        ));
        let huge = AnalyticsQuery::new(far_past(), far_future(), Bucket::Hour);
        assert!(matches!(huge.aligned(), Err(StoreError::InvalidQuery(_))));
    }
}
