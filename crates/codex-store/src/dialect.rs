//! What differs between the two databases on the read side: the SQL text of a read where the
//! two disagree, how a value is bound, and how a row reads back. The one reader
//! ([`crate::reader`]) is written once against this trait; `sqlite/dialect.rs` and
//! `postgres/dialect.rs` implement it.
//!
//! A statement both databases read alike is written once, here, as the default: sqlx numbers
//! SQLite's `$1` parameters as PostgreSQL does.

use sqlx::Database;
use sqlx::database::HasStatementCache;

use crate::error::Result;
use crate::event::Event;
use crate::store::{Counts, SessionSummary};

/// One database's SQL and row decoding.
///
/// Every statement takes its parameters in the order its documentation gives; the reader binds
/// them in that order. Each dialect writes placeholders its own way (`?1` or `$1`).
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database + HasStatementCache;

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

    /// Every session, most recently active first.
    const SESSIONS: &'static str = "SELECT id, created_at, last_activity, message_count
         FROM sessions ORDER BY last_activity DESC, id";

    /// Plugin executions after a sequence number, in order: session id, after, limit.
    const PLUGIN_LOGS: &'static str = select_events!(
        "WHERE session_id = $1 AND kind = 'plugin_execution' AND seq > $2
         ORDER BY seq LIMIT $3"
    );

    /// An event row (`session_id, seq, id, kind, ts, payload`).
    fn event(row: &<Self::Db as Database>::Row) -> Result<Event>;
    /// The row of [`Dialect::COUNTS`].
    fn counts(row: &<Self::Db as Database>::Row) -> Result<Counts>;
    /// A row of [`Dialect::SESSIONS`].
    fn session(row: &<Self::Db as Database>::Row) -> Result<SessionSummary>;
}

/// A count read from the database, which never holds a negative one.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}
