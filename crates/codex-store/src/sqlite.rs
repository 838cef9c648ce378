//! The SQLite backend: one file in WAL mode, one writer connection fed by group commit, and a
//! separate pool of readers that never wait for it.

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind, EventRef, Message, NewEvent, PluginLog};
use crate::store::{
    BackendKind, CommitStats, Counts, EventStore, Page, SessionSummary, SqliteDurability,
    StoreOptions, into_page, page_fetch_limit, redact, sql_limit,
};
use crate::writer::WriterHandle;

mod checkpoint;
mod writer;
use writer::SqliteWriter;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// An [`EventStore`] on one SQLite file.
pub struct SqliteStore {
    readers: SqlitePool,
    writer: WriterHandle,
}

fn connect_options(url: &str, options: &StoreOptions) -> Result<SqliteConnectOptions> {
    let parsed =
        SqliteConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl(redact(url)))?;
    // Readers and the writer must see one database; a private in-memory one per connection
    // would silently lose every write.
    if parsed.get_filename().as_os_str().is_empty()
        || parsed.get_filename().as_os_str() == ":memory:"
        || url.contains(":memory:")
        || url.contains("mode=memory")
    {
        return Err(StoreError::UnsupportedUrl(format!(
            "{url} (in-memory SQLite is not supported: use a file)"
        )));
    }
    let synchronous = match options.sqlite_durability {
        SqliteDurability::Full => SqliteSynchronous::Full,
        SqliteDurability::Normal => SqliteSynchronous::Normal,
    };
    Ok(parsed
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout))
}

/// Applies the embedded migrations to the database at `url`.
pub(crate) async fn migrate(url: &str) -> Result<()> {
    let options = connect_options(url, &StoreOptions::default())?;
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        let connect = connect_options(url, options)?;
        let mut migrations = sqlx::SqliteConnection::connect_with(&connect).await?;
        MIGRATOR.run(&mut migrations).await?;
        migrations.close().await?;
        // One connection of its own, on a thread of its own, serialises this process' writes
        // (other processes wait on SQLite's lock for up to the busy timeout).
        let writes = SqliteWriter::open(
            connect.get_filename(),
            options.sqlite_durability,
            options.busy_timeout,
        )?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect)
            .await?;
        let writer = WriterHandle::spawn_on_thread(
            "codex-sqlite-writer",
            writes,
            options.max_batch,
            options.queue_capacity,
        )?;
        tracing::info!(url = %redact(url), "sqlite store ready");
        Ok(Self { readers, writer })
    }
}

/// Timestamps are stored as fixed-width RFC 3339 text in UTC, so text order is time order.
pub(crate) fn format_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|ts| ts.with_timezone(&Utc))
        .map_err(|err| StoreError::Corrupt(format!("timestamp {text:?}: {err}")))
}

fn event_from_row(row: &SqliteRow) -> Result<Event> {
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

fn events_from_rows(rows: &[SqliteRow]) -> Result<Vec<Event>> {
    rows.iter().map(event_from_row).collect()
}

fn to_messages(events: Vec<Event>) -> Result<Vec<Message>> {
    events.into_iter().map(Message::try_from).collect()
}

#[async_trait]
impl EventStore for SqliteStore {
    fn backend(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<EventRef>> {
        self.writer.append(events).await
    }

    async fn short_memory(&self, session_id: &str, n: usize) -> Result<Vec<Message>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(select_events!(
            "WHERE session_id = ?1 AND kind = 'message'
               AND seq > COALESCE((SELECT MAX(seq) FROM events
                                   WHERE session_id = ?1 AND kind = 'reset'), 0)
             ORDER BY seq DESC LIMIT ?2"
        ))
        .bind(session_id)
        .bind(sql_limit(n))
        .fetch_all(&self.readers)
        .await?;
        let mut messages = to_messages(events_from_rows(&rows)?)?;
        messages.reverse();
        Ok(messages)
    }

    async fn messages(&self, session_id: &str) -> Result<Vec<Message>> {
        let rows = sqlx::query(select_events!(
            "WHERE session_id = ?1 AND kind = 'message' ORDER BY seq"
        ))
        .bind(session_id)
        .fetch_all(&self.readers)
        .await?;
        to_messages(events_from_rows(&rows)?)
    }

    async fn timeline(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<Event>> {
        let (limit, fetch) = page_fetch_limit(limit);
        let rows = sqlx::query(select_events!(
            "WHERE session_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))
        .bind(session_id)
        .bind(after_seq.unwrap_or(0))
        .bind(fetch)
        .fetch_all(&self.readers)
        .await?;
        Ok(into_page(events_from_rows(&rows)?, limit, |e| e.seq))
    }

    async fn counts(&self, session_id: &str, short_limit: usize) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT
                (SELECT COUNT(*) FROM (
                    SELECT 1 FROM events
                    WHERE session_id = ?1 AND kind = 'message'
                      AND seq > COALESCE((SELECT MAX(seq) FROM events
                                          WHERE session_id = ?1 AND kind = 'reset'), 0)
                    LIMIT ?2)) AS short,
                COALESCE((SELECT message_count FROM sessions WHERE id = ?1), 0) AS full",
        )
        .bind(session_id)
        .bind(sql_limit(short_limit))
        .fetch_one(&self.readers)
        .await?;
        let short: i64 = row.try_get("short")?;
        let full: i64 = row.try_get("full")?;
        Ok(Counts {
            short: u64::try_from(short).unwrap_or_default(),
            full: u64::try_from(full).unwrap_or_default(),
        })
    }

    async fn sessions(&self) -> Result<Vec<SessionSummary>> {
        let rows = sqlx::query(
            "SELECT id, created_at, last_activity, message_count FROM sessions
             ORDER BY last_activity DESC, id",
        )
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                let created: String = row.try_get("created_at")?;
                let last: String = row.try_get("last_activity")?;
                let count: i64 = row.try_get("message_count")?;
                Ok(SessionSummary {
                    id: row.try_get("id")?,
                    created_at: parse_ts(&created)?,
                    last_activity: parse_ts(&last)?,
                    message_count: u64::try_from(count).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn plugin_logs(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<PluginLog>> {
        let (limit, fetch) = page_fetch_limit(limit);
        let rows = sqlx::query(select_events!(
            "WHERE session_id = ?1 AND kind = 'plugin_execution' AND seq > ?2
             ORDER BY seq LIMIT ?3"
        ))
        .bind(session_id)
        .bind(after_seq.unwrap_or(0))
        .bind(fetch)
        .fetch_all(&self.readers)
        .await?;
        let logs = events_from_rows(&rows)?
            .into_iter()
            .map(PluginLog::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(into_page(logs, limit, |log| log.seq))
    }

    async fn reset_existing(&self, session_id: &str) -> Result<Option<EventRef>> {
        self.writer
            .append_existing(NewEvent::reset(session_id))
            .await
    }

    async fn delete_session(&self, session_id: &str) -> Result<u64> {
        self.writer.delete_session(session_id).await
    }

    fn stats(&self) -> CommitStats {
        self.writer.stats()
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::commit_timestamp;

    #[test]
    fn timestamps_round_trip_and_sort_as_text() {
        let early = commit_timestamp();
        let late = early + chrono::Duration::milliseconds(1500);
        assert_eq!(parse_ts(&format_ts(early)).ok(), Some(early));
        assert!(format_ts(early) < format_ts(late));
        assert_eq!(format_ts(early).len(), format_ts(late).len());
    }

    #[test]
    fn in_memory_databases_are_refused() {
        for url in ["sqlite::memory:", "sqlite://file:x?mode=memory"] {
            assert!(matches!(
                connect_options(url, &StoreOptions::default()),
                Err(StoreError::UnsupportedUrl(_))
            ));
        }
    }
}
