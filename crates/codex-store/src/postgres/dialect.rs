//! PostgreSQL's SQL for the one reader, and how its rows read back: `timestamptz`, `uuid`, and
//! `jsonb` payloads whose NULs were escaped on the way in ([`super::nul`]).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgRow, Postgres};

use crate::dialect::{Dialect, count, rollup_counts};
use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind};
use crate::histogram::DurationHistogram;
use crate::keys::{ApiKeyRecord, KeyRole, parse_grants};
use crate::rollup::RollupRow;
use crate::settings::PluginSetting;
use crate::store::{Counts, SessionSummary};

use super::nul;

/// The PostgreSQL dialect.
pub(crate) struct PostgresDialect;

impl Dialect for PostgresDialect {
    type Db = Postgres;
    type Ts = DateTime<Utc>;
    type Kinds = Vec<&'static str>;

    const TIMELINE_OF_KINDS: &'static str = select_events!(
        "WHERE session_id = $1 AND seq > $2 AND kind = ANY($4) ORDER BY seq LIMIT $3"
    );

    /// As the default, but ignoring case as SQLite's `LIKE` does.
    const SESSION_PAGE: &'static str = r"SELECT id, created_at, last_activity, message_count, title
         FROM sessions
         WHERE last_activity <= $1 AND (last_activity < $1 OR id > $2)
           AND ($3::text IS NULL OR id ILIKE $3 ESCAPE '\' OR title ILIKE $3 ESCAPE '\')
           AND ($5::text IS NULL
                OR id IN (SELECT session_id FROM session_owners WHERE owner = $5))
         ORDER BY last_activity DESC, id
         LIMIT $4";

    fn ts(ts: DateTime<Utc>) -> DateTime<Utc> {
        ts
    }

    fn kinds(kinds: &[EventKind]) -> Vec<&'static str> {
        kinds.iter().map(|kind| kind.as_str()).collect()
    }

    fn text(text: &str) -> Cow<'_, str> {
        nul::escape_str(text)
    }

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
            title: row
                .try_get::<Option<String>, _>("title")?
                .map(nul::unescape_str),
        })
    }

    fn rollup(row: &PgRow) -> Result<RollupRow> {
        let histogram: Vec<i64> = row.try_get("histogram")?;
        let mut rollup = rollup_counts(row)?;
        rollup.plugin = nul::unescape_str(row.try_get("plugin")?);
        rollup.histogram = DurationHistogram::from_dense(&histogram)?;
        Ok(rollup)
    }

    fn number(row: &PgRow) -> Result<i64> {
        Ok(row.try_get(0)?)
    }

    fn day_count(row: &PgRow) -> Result<(i64, u64)> {
        Ok((row.try_get("day")?, count(row.try_get("sessions")?)))
    }

    fn plugin_setting(row: &PgRow) -> Result<PluginSetting> {
        Ok(PluginSetting {
            plugin: row.try_get("plugin")?,
            enabled: row.try_get("enabled")?,
            policy: row.try_get("policy")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    fn api_key(row: &PgRow) -> Result<ApiKeyRecord> {
        let role: String = row.try_get("role")?;
        let grants: String = row.try_get("grants")?;
        Ok(ApiKeyRecord {
            name: row.try_get("name")?,
            role: KeyRole::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("key role {role:?}")))?,
            grants: parse_grants(&grants)?,
            rate_per_second: row.try_get("rate_per_second")?,
            created_at: row.try_get("created_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }

    fn text_column(row: &PgRow, column: &str) -> Result<String> {
        Ok(row.try_get(column)?)
    }
}
