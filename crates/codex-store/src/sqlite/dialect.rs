//! SQLite's SQL for the one reader, and how its rows read back: timestamps are fixed-width
//! RFC 3339 text, ids hyphenated text, payloads JSON text.

use sqlx::Row;
use sqlx::sqlite::{Sqlite, SqliteRow};
use uuid::Uuid;

use crate::dialect::{Dialect, count};
use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind};
use crate::store::{Counts, SessionSummary};

use super::parse_ts;

/// The SQLite dialect.
pub(crate) struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = Sqlite;

    fn event(row: &SqliteRow) -> Result<Event> {
        let id: String = row.try_get("id")?;
        let kind: String = row.try_get("kind")?;
        let ts: String = row.try_get("ts")?;
        let payload: String = row.try_get("payload")?;
        Ok(Event {
            id: Uuid::parse_str(&id)
                .map_err(|err| StoreError::Corrupt(format!("event id {id:?}: {err}")))?,
            session_id: row.try_get("session_id")?,
            seq: row.try_get("seq")?,
            kind: EventKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind:?}")))?,
            timestamp: parse_ts(&ts)?,
            payload: serde_json::from_str(&payload)
                .map_err(|err| StoreError::Corrupt(format!("payload of event {id}: {err}")))?,
        })
    }

    fn counts(row: &SqliteRow) -> Result<Counts> {
        Ok(Counts {
            short: count(row.try_get("short")?),
            full: count(row.try_get("full")?),
        })
    }

    fn session(row: &SqliteRow) -> Result<SessionSummary> {
        let created: String = row.try_get("created_at")?;
        let last: String = row.try_get("last_activity")?;
        Ok(SessionSummary {
            id: row.try_get("id")?,
            created_at: parse_ts(&created)?,
            last_activity: parse_ts(&last)?,
            message_count: count(row.try_get("message_count")?),
        })
    }
}
