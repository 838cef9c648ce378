//! The SQLite backend: one file in WAL mode, one writer connection fed by group commit, and a
//! separate pool of readers that never wait for it.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, Sqlite};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind, EventRef, Message, NewEvent, PluginLog};
use crate::store::{
    BackendKind, CommitStats, Counts, EventStore, Page, SessionSummary, SqliteDurability,
    StoreOptions, into_page, page_fetch_limit, redact, sql_limit,
};
use crate::writer::{LogWriter, WriterHandle, commit_timestamp, plan};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// An [`EventStore`] on one SQLite file.
pub struct SqliteStore {
    readers: SqlitePool,
    writer: WriterHandle,
    checkpointer: Checkpointer,
}

/// How often the checkpointer copies committed pages from the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Checkpoints the WAL from a connection of its own, so the writer never does.
///
/// With `synchronous=NORMAL` a commit only appends to the WAL, but a checkpoint syncs the
/// database file; SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL
/// pages, and every append waiting for that commit waited for the sync too. A passive
/// checkpoint runs beside the writer without blocking it. Commits stay durable as before:
/// a commit is in the WAL before it is acknowledged, checkpointed or not.
struct Checkpointer {
    stop: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    fn spawn(mut conn: sqlx::SqliteConnection) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {
                        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                            .execute(&mut conn)
                            .await
                        {
                            tracing::warn!(%error, "sqlite checkpoint failed; retrying later");
                        }
                    }
                }
            }
            if let Err(error) = conn.close().await {
                tracing::warn!(%error, "closing the sqlite checkpoint connection");
            }
        });
        Self {
            stop: std::sync::Mutex::new(Some(stop)),
            task: tokio::sync::Mutex::new(Some(task)),
        }
    }

    async fn stop(&self) {
        let stop = self
            .stop
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            // An error only means the task already ended, which is what we wait for.
            let _ = stop.send(());
        }
        let task = self.task.lock().await.take();
        if let Some(Err(error)) = match task {
            Some(task) => Some(task.await),
            None => None,
        } {
            tracing::warn!(%error, "the sqlite checkpoint task failed");
        }
    }
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
        // One connection of its own serialises this process' writes (other processes wait on
        // SQLite's lock for up to the busy timeout); it is no pool's, so a commit pays no
        // acquire or liveness check. Its statement cache holds one entry per batch shape.
        let mut writes = sqlx::SqliteConnection::connect_with(
            &connect
                .clone()
                .statement_cache_capacity(WRITER_STATEMENT_CACHE)
                .pragma("wal_autocheckpoint", "0"),
        )
        .await?;
        MIGRATOR.run(&mut writes).await?;
        let checkpoints = sqlx::SqliteConnection::connect_with(&connect).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect)
            .await?;
        let writer = WriterHandle::spawn(
            SqliteWriter { conn: Some(writes) },
            options.max_batch,
            options.queue_capacity,
        );
        let checkpointer = Checkpointer::spawn(checkpoints);
        tracing::info!(url = %redact(url), "sqlite store ready");
        Ok(Self {
            readers,
            writer,
            checkpointer,
        })
    }
}

struct SqliteWriter {
    /// `None` once closed.
    conn: Option<sqlx::SqliteConnection>,
}

impl SqliteWriter {
    fn conn(&mut self) -> Result<&mut sqlx::SqliteConnection> {
        self.conn.as_mut().ok_or(StoreError::Closed)
    }
}

/// Rows per multi-row `INSERT`: 6 parameters each stays far below SQLite's variable limit.
const ROWS_PER_STATEMENT: usize = 500;

/// Prepared batch scripts the writer keeps: one per (sessions, events) shape of a batch.
const WRITER_STATEMENT_CACHE: usize = 1024;

/// The position of each event in its session's share of a batch, counted from the end: the
/// last event of a session gets 0, so its `seq` is the session's new `last_seq` minus this.
fn offsets_from_last(events: &[NewEvent]) -> Vec<i64> {
    let mut remaining: HashMap<&str, i64> = HashMap::new();
    for event in events {
        *remaining.entry(event.session_id.as_str()).or_default() += 1;
    }
    events
        .iter()
        .map(|event| {
            let left = remaining.entry(event.session_id.as_str()).or_default();
            *left -= 1;
            *left
        })
        .collect()
}

#[async_trait]
impl LogWriter for SqliteWriter {
    /// A whole batch is one script sent to sqlx's SQLite worker thread in one round trip:
    /// `BEGIN IMMEDIATE`, one statement bumping every session counter (answering the new last
    /// sequence numbers), one inserting every event (per 500 rows) with its `seq` computed
    /// from that counter, `COMMIT`. Every round trip to that thread costs two thread wake-ups,
    /// which at one commit per request used to be most of a request's time.
    async fn commit(&mut self, events: &[NewEvent]) -> Result<Vec<EventRef>> {
        let now = commit_timestamp();
        let ts = format_ts(now);
        let bumps = plan(events);
        let offsets = offsets_from_last(events);
        let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
        // IMMEDIATE takes the write lock up front, so another process holding it makes us wait
        // (busy timeout) instead of failing on a read-to-write upgrade.
        let mut script = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE;\n");
        for chunk in bumps.chunks(ROWS_PER_STATEMENT) {
            // Bumps a session's counter, creating the session on its first event, and
            // answers the new last sequence number.
            script.push(
                "INSERT INTO sessions (id, created_at, last_activity, message_count, last_seq) ",
            );
            script.push_values(chunk, |mut row, bump| {
                row.push_bind(bump.session_id.clone())
                    .push_bind(ts.clone())
                    .push_bind(ts.clone())
                    .push_bind(bump.messages)
                    .push_bind(bump.events);
            });
            script.push(
                " ON CONFLICT (id) DO UPDATE SET
                    last_activity = MAX(sessions.last_activity, excluded.last_activity),
                    message_count = sessions.message_count + excluded.message_count,
                    last_seq = sessions.last_seq + excluded.last_seq
                RETURNING id, last_seq;\n",
            );
        }
        let rows: Vec<((&NewEvent, &i64), &Uuid)> = events.iter().zip(&offsets).zip(&ids).collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            // The counters above already count these events, so each one's seq follows from
            // its session's new counter and its offset from the session's last event.
            script.push(
                "INSERT INTO events (session_id, seq, id, kind, ts, payload)
                 SELECT v.column1, s.last_seq - v.column2, v.column3, v.column4, v.column5, v.column6
                 FROM (",
            );
            script.push_values(chunk, |mut row, ((event, offset), id)| {
                row.push_bind(event.session_id.clone())
                    .push_bind(**offset)
                    .push_bind(id.hyphenated().to_string())
                    .push_bind(event.kind.as_str())
                    .push_bind(ts.clone())
                    .push_bind(event.payload.to_string());
            });
            script.push(") AS v JOIN sessions AS s ON s.id = v.column1;\n");
        }
        script.push("COMMIT;");
        let conn = self.conn()?;
        let answered = script.build().fetch_all(&mut *conn).await;
        let counters = match answered {
            Ok(counters) => counters,
            Err(error) => {
                // The script stopped at the failing statement, maybe inside the transaction.
                // Rolling back when none is open fails harmlessly.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(error.into());
            }
        };
        let mut last_by_session: HashMap<String, i64> = HashMap::with_capacity(bumps.len());
        for row in &counters {
            last_by_session.insert(row.try_get("id")?, row.try_get("last_seq")?);
        }
        events
            .iter()
            .zip(offsets)
            .zip(ids)
            .map(|((event, offset), id)| {
                let last = last_by_session.get(&event.session_id).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "no counter returned for session {:?}",
                        event.session_id
                    ))
                })?;
                Ok(EventRef {
                    id,
                    session_id: event.session_id.clone(),
                    seq: last - offset,
                    timestamp: now,
                })
            })
            .collect()
    }

    async fn append_existing(&mut self, event: &NewEvent) -> Result<Option<EventRef>> {
        let now = commit_timestamp();
        let ts = format_ts(now);
        let id = Uuid::now_v7();
        let messages = i64::from(event.kind == EventKind::Message);
        let conn = self.conn()?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET
                last_activity = MAX(last_activity, ?2),
                message_count = message_count + ?3,
                last_seq = last_seq + 1
             WHERE id = ?1
             RETURNING last_seq",
        )
        .bind(&event.session_id)
        .bind(&ts)
        .bind(messages)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else {
            tx.rollback().await?;
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO events (session_id, seq, id, kind, ts, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&event.session_id)
        .bind(seq)
        .bind(id.hyphenated().to_string())
        .bind(event.kind.as_str())
        .bind(&ts)
        .bind(event.payload.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(EventRef {
            id,
            session_id: event.session_id.clone(),
            seq,
            timestamp: now,
        }))
    }

    async fn delete_session(&mut self, session_id: &str) -> Result<u64> {
        let conn = self.conn()?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let deleted = sqlx::query("DELETE FROM events WHERE session_id = ?1")
            .bind(session_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE id = ?1")
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    fn is_transient(&self, error: &StoreError) -> bool {
        // SQLITE_BUSY outlasting the busy timeout: another process held the lock too long.
        matches!(error, StoreError::Database(sqlx::Error::Database(db))
            if db.code().is_some_and(|code| code == "5" || code == "517"))
    }

    async fn close(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if let Err(error) = conn.close().await {
            tracing::warn!(%error, "closing the sqlite writer connection");
        }
    }
}

/// Timestamps are stored as fixed-width RFC 3339 text in UTC, so text order is time order.
fn format_ts(ts: DateTime<Utc>) -> String {
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
        self.checkpointer.stop().await;
        self.readers.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
