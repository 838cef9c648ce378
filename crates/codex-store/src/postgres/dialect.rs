//! PostgreSQL's SQL for the one reader, and how its rows read back: `timestamptz`, `uuid`, and
//! `jsonb` payloads whose NULs were escaped on the way in ([`super::nul`]).

use sqlx::Row;
use sqlx::postgres::{PgRow, Postgres};

use crate::dialect::{Dialect, count};
use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind};
use crate::store::{Counts, SessionSummary};

use super::nul;

/// The PostgreSQL dialect.
pub(crate) struct PostgresDialect;

impl Dialect for PostgresDialect {
    type Db = Postgres;

    fn event(row: &PgRow) -> Result<Event> {
        let kind: String = row.try_get("kind")?;
        Ok(Event {
            id: row.try_get("id")?,
            session_id: row.try_get("session_id")?,
            seq: row.try_get("seq")?,
            kind: EventKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind:?}")))?,
            timestamp: row.try_get("ts")?,
            payload: nul::restore(row.try_get("payload")?),
        })
    }

    fn counts(row: &PgRow) -> Result<Counts> {
        Ok(Counts {
            short: count(row.try_get("short")?),
            full: count(row.try_get("full")?),
        })
    }

    fn session(row: &PgRow) -> Result<SessionSummary> {
        Ok(SessionSummary {
            id: row.try_get("id")?,
            created_at: row.try_get("created_at")?,
            last_activity: row.try_get("last_activity")?,
            message_count: count(row.try_get("message_count")?),
        })
    }
}
