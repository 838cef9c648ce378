//! What differs between the two databases on the read side: the SQL text of a read where the
//! two disagree, how a value is bound, and how a row reads back. The one reader
//! ([`crate::reader`]) is written once against this trait; `sqlite/dialect.rs` and
//! `postgres/dialect.rs` implement it.
//!
//! A statement both databases read alike is written once, here, as the default: sqlx numbers
//! SQLite's `$1` parameters as PostgreSQL does.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::database::HasStatementCache;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

use crate::error::Result;
use crate::event::{Event, EventKind};
use crate::keys::ApiKeyRecord;
use crate::rollup::RollupRow;
use crate::settings::PluginSetting;
use crate::store::{Counts, SessionSummary};

/// One database's SQL and row decoding.
///
/// Every statement takes its parameters in the order its documentation gives; the reader binds
/// them in that order. Each dialect writes placeholders its own way (`?1` or `$1`).
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database + HasStatementCache;
    /// A timestamp as this database compares it with stored ones.
    type Ts: for<'q> Encode<'q, Self::Db> + Type<Self::Db> + Send + Sync;
    /// A set of event kinds, bound as one parameter.
    type Kinds: for<'q> Encode<'q, Self::Db> + Type<Self::Db> + Send + Sync;

    /// The messages since the latest reset, newest first: session id, limit.
    const SHORT_MEMORY: &'static str = select_events!(
        "WHERE session_id = $1 AND kind = 'message'
           AND seq > COALESCE((SELECT MAX(seq) FROM events
                               WHERE session_id = $1 AND kind = 'reset'), 0)
         ORDER BY seq DESC LIMIT $2"
    );

    /// Every message, oldest first: session id.
    const MESSAGES: &'static str =
        select_events!("WHERE session_id = $1 AND kind = 'message' ORDER BY seq");

    /// Events after a sequence number, in order: session id, after, limit.
    const TIMELINE: &'static str =
        select_events!("WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");

    /// Message counts (`short`, `full`): session id, short limit.
    const COUNTS: &'static str = "SELECT
            (SELECT COUNT(*) FROM (
                SELECT 1 FROM events
                WHERE session_id = $1 AND kind = 'message'
                  AND seq > COALESCE((SELECT MAX(seq) FROM events
                                      WHERE session_id = $1 AND kind = 'reset'), 0)
                LIMIT $2) AS recent) AS short,
            COALESCE((SELECT message_count FROM sessions WHERE id = $1), 0) AS full";

    /// Events of some kinds after a sequence number, in order: session id, after, limit,
    /// kinds.
    const TIMELINE_OF_KINDS: &'static str;

    /// Every session, most recently active first.
    const SESSIONS: &'static str = "SELECT id, created_at, last_activity, message_count, title
         FROM sessions ORDER BY last_activity DESC, id";

    /// A page of sessions below a position (last activity, id), most recently active first,
    /// optionally those whose id or title matches a `LIKE` pattern and those a key owns:
    /// last activity, id, pattern, limit, owner. The first condition alone bounds the index
    /// range.
    const SESSION_PAGE: &'static str = r"SELECT id, created_at, last_activity, message_count, title
         FROM sessions
         WHERE last_activity <= $1 AND (last_activity < $1 OR id > $2)
           AND ($3 IS NULL OR id LIKE $3 ESCAPE '\' OR title LIKE $3 ESCAPE '\')
           AND ($5 IS NULL OR id IN (SELECT session_id FROM session_owners WHERE owner = $5))
         ORDER BY last_activity DESC, id
         LIMIT $4";

    /// Executions below a position (time, session, seq) and at or after a time, newest first,
    /// as events: time, session, seq, since, plugin, status, source, limit, actor (the filters
    /// may be null). A range of the `executions` key, joined to the page's events. (`->>` with
    /// a bare label reads the same member on both databases.)
    const EXECUTIONS: &'static str = "SELECT e.session_id, e.seq, e.id, e.kind, e.ts, e.payload
         FROM executions AS x
         JOIN events AS e ON e.session_id = x.session_id AND e.seq = x.seq
         WHERE (x.ts, x.session_id, x.seq) < ($1, $2, $3) AND x.ts >= $4
           AND ($5 IS NULL OR x.plugin = $5)
           AND ($6 IS NULL OR x.status = $6)
           AND ($7 IS NULL OR x.source = $7)
           AND ($9 IS NULL OR e.payload ->> 'actor' = $9)
         ORDER BY x.ts DESC, x.session_id DESC, x.seq DESC
         LIMIT $8";

    /// One session's executions below a sequence number, newest first, as events: session,
    /// before seq, since, until, plugin, status, source, limit, actor. Read through the session's
    /// events of that kind; the `executions` row gives the columns to filter on.
    const SESSION_EXECUTIONS: &'static str =
        "SELECT e.session_id, e.seq, e.id, e.kind, e.ts, e.payload
         FROM events AS e
         JOIN executions AS x ON x.ts = e.ts AND x.session_id = e.session_id AND x.seq = e.seq
         WHERE e.session_id = $1 AND e.kind = 'plugin_execution' AND e.seq < $2
           AND e.ts >= $3 AND e.ts < $4
           AND ($5 IS NULL OR x.plugin = $5)
           AND ($6 IS NULL OR x.status = $6)
           AND ($7 IS NULL OR x.source = $7)
           AND ($9 IS NULL OR e.payload ->> 'actor' = $9)
         ORDER BY e.seq DESC
         LIMIT $8";

    /// The executions one key asked for in a window, as events: since, until, actor. What
    /// the analytics of one key are counted from.
    const ACTOR_EXECUTIONS: &'static str =
        "SELECT e.session_id, e.seq, e.id, e.kind, e.ts, e.payload
         FROM executions AS x
         JOIN events AS e ON e.session_id = x.session_id AND e.seq = x.seq
         WHERE x.ts >= $1 AND x.ts < $2 AND e.payload ->> 'actor' = $3";

    /// Hours below one hour and from another on whose rollup says they may hold an execution
    /// matching the filters, newest first: below, from, plugin, source, status, limit. Exact
    /// for plugin, source and `ok`; an error code matches every hour with errors.
    const CANDIDATE_HOURS: &'static str = "SELECT DISTINCT hour FROM execution_rollup
         WHERE hour < $1 AND hour >= $2
           AND ($3 IS NULL OR plugin = $3)
           AND CASE $4 WHEN 'api' THEN api WHEN 'cli' THEN cli WHEN 'chat' THEN chat
                       WHEN 'mcp' THEN mcp ELSE calls END > 0
           AND CASE WHEN $5 IS NULL THEN calls WHEN $5 = 'ok' THEN calls - errors
                    ELSE errors END > 0
         ORDER BY hour DESC
         LIMIT $6";

    /// The rollup rows of a range of hours: from, to (exclusive).
    const ROLLUP: &'static str =
        "SELECT hour, plugin, calls, errors, api, cli, chat, mcp, histogram
         FROM execution_rollup WHERE hour >= $1 AND hour < $2";

    /// Sessions with messages per day, for a range of days: from, to (exclusive), and the
    /// key owning them (null: every session).
    const CONVERSATIONS: &'static str = "SELECT day, COUNT(*) AS sessions FROM session_days
         WHERE day >= $1 AND day < $2
           AND ($3 IS NULL OR session_id IN (SELECT session_id FROM session_owners WHERE owner = $3))
         GROUP BY day ORDER BY day";

    /// Plugin executions after a sequence number, in order: session id, after, limit.
    const PLUGIN_LOGS: &'static str = select_events!(
        "WHERE session_id = $1 AND kind = 'plugin_execution' AND seq > $2
         ORDER BY seq LIMIT $3"
    );

    /// A timestamp to bind.
    fn ts(ts: DateTime<Utc>) -> Self::Ts;
    /// Kinds to bind (never empty).
    fn kinds(kinds: &[EventKind]) -> Self::Kinds;
    /// Text to compare with text taken from payloads, as the database stores it.
    fn text(text: &str) -> Cow<'_, str>;

    /// An event row (`session_id, seq, id, kind, ts, payload`).
    fn event(row: &<Self::Db as Database>::Row) -> Result<Event>;
    /// The row of [`Dialect::COUNTS`].
    fn counts(row: &<Self::Db as Database>::Row) -> Result<Counts>;
    /// A row of [`Dialect::SESSIONS`] or [`Dialect::SESSION_PAGE`].
    fn session(row: &<Self::Db as Database>::Row) -> Result<SessionSummary>;
    /// A row of [`Dialect::ROLLUP`].
    fn rollup(row: &<Self::Db as Database>::Row) -> Result<RollupRow>;
    /// The one column (a number) of a row: an hour of [`Dialect::CANDIDATE_HOURS`].
    fn number(row: &<Self::Db as Database>::Row) -> Result<i64>;
    /// A row of [`Dialect::CONVERSATIONS`]: day, sessions.
    fn day_count(row: &<Self::Db as Database>::Row) -> Result<(i64, u64)>;
    /// A `plugin_settings` row: plugin, enabled, policy, updated_at.
    fn plugin_setting(row: &<Self::Db as Database>::Row) -> Result<PluginSetting>;
    /// An `api_keys` row without its hash.
    fn api_key(row: &<Self::Db as Database>::Row) -> Result<ApiKeyRecord>;
    /// A text column of a row, by name.
    fn text_column(row: &<Self::Db as Database>::Row, column: &str) -> Result<String>;
}

/// A rollup row's hour and counts, which both databases store as the same integers; the
/// plugin and the histogram are for the dialect to read.
pub(crate) fn rollup_counts<R>(row: &R) -> Result<RollupRow>
where
    R: Row,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let mut rollup = RollupRow::empty(row.try_get("hour")?, "");
    rollup.calls = count(row.try_get("calls")?);
    rollup.errors = count(row.try_get("errors")?);
    for (slot, column) in rollup.sources.iter_mut().zip(["api", "cli", "chat", "mcp"]) {
        *slot = count(row.try_get(column)?);
    }
    Ok(rollup)
}

/// A count read from the database, which never holds a negative one.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}
