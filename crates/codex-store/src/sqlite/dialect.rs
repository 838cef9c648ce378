//! SQLite's SQL for the one reader, and how its rows read back: timestamps are fixed-width
//! RFC 3339 text, ids hyphenated text, payloads JSON text.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{Sqlite, SqliteRow};
use uuid::Uuid;

use crate::dialect::{Dialect, count, rollup_counts};
use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind};
use crate::histogram::DurationHistogram;
use crate::keys::{ApiKeyRecord, KeyRole, parse_grants};
use crate::rollup::RollupRow;
use crate::settings::PluginSetting;
use crate::store::{Counts, SessionSummary};

use super::{format_ts, parse_ts};

/// The SQLite dialect.
pub(crate) struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = Sqlite;
    type Ts = String;
    /// A JSON array, read with `json_each`.
    type Kinds = String;

    const TIMELINE_OF_KINDS: &'static str = select_events!(
        "WHERE session_id = $1 AND seq > $2 AND kind IN (SELECT value FROM json_each($4))
         ORDER BY seq LIMIT $3"
    );

    fn ts(ts: DateTime<Utc>) -> String {
        format_ts(ts)
    }

    fn kinds(kinds: &[EventKind]) -> String {
        let names: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
        serde_json::Value::from(names).to_string()
    }

    fn text(text: &str) -> Cow<'_, str> {
        Cow::Borrowed(text)
    }

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
            title: row.try_get("title")?,
        })
    }

    fn rollup(row: &SqliteRow) -> Result<RollupRow> {
        let histogram: Vec<u8> = row.try_get("histogram")?;
        let mut rollup = rollup_counts(row)?;
        rollup.plugin = row.try_get("plugin")?;
        rollup.histogram = DurationHistogram::from_sparse_bytes(&histogram)?;
        Ok(rollup)
    }

    fn number(row: &SqliteRow) -> Result<i64> {
        Ok(row.try_get(0)?)
    }

    fn day_count(row: &SqliteRow) -> Result<(i64, u64)> {
        Ok((row.try_get("day")?, count(row.try_get("sessions")?)))
    }

    fn plugin_setting(row: &SqliteRow) -> Result<PluginSetting> {
        let updated: String = row.try_get("updated_at")?;
        Ok(PluginSetting {
            plugin: row.try_get("plugin")?,
            enabled: row.try_get("enabled")?,
            policy: row.try_get("policy")?,
            updated_at: parse_ts(&updated)?,
        })
    }

    fn api_key(row: &SqliteRow) -> Result<ApiKeyRecord> {
        let role: String = row.try_get("role")?;
        let grants: String = row.try_get("grants")?;
        let created: String = row.try_get("created_at")?;
        let used: Option<String> = row.try_get("last_used_at")?;
        let revoked: Option<String> = row.try_get("revoked_at")?;
        Ok(ApiKeyRecord {
            name: row.try_get("name")?,
            role: KeyRole::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("key role {role:?}")))?,
            grants: parse_grants(&grants)?,
            rate_per_second: row.try_get("rate_per_second")?,
            created_at: parse_ts(&created)?,
            last_used_at: used.as_deref().map(parse_ts).transpose()?,
            revoked_at: revoked.as_deref().map(parse_ts).transpose()?,
        })
    }

    fn text_column(row: &SqliteRow, column: &str) -> Result<String> {
        Ok(row.try_get(column)?)
    }
}
