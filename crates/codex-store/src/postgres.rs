//! The PostgreSQL backend: group commit per process, and per-session counters that stay gapless
//! when several server processes write one session.
//!
//! Each batch upserts its sessions' counter rows (`UPDATE ... RETURNING` through
//! `ON CONFLICT`), which row-locks them until commit; another process appending to the same
//! session waits on that lock and then continues from the committed counter. Rows are locked in
//! session id order, so two batches cannot deadlock; a deadlock or serialisation failure that
//! happens anyway is retried.

mod nul;

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind, EventRef, Message, NewEvent, PluginLog};
use crate::store::{
    BackendKind, CommitStats, Counts, EventStore, Page, SessionSummary, StoreOptions, into_page,
    page_fetch_limit, redact, sql_limit,
};
use crate::writer::{LogWriter, WriterHandle, assign, commit_timestamp, plan};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// An [`EventStore`] on a PostgreSQL database, shareable by several servers.
pub struct PostgresStore {
    pool: PgPool,
    writer: WriterHandle,
}

fn connect_options(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl(redact(url)))
}

/// Applies the embedded migrations to the database at `url`.
pub(crate) async fn migrate(url: &str) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect_with(&connect_options(url)?).await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

impl PostgresStore {
    /// Connects to and migrates the database at `url`.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect_options(url)?)
            .await?;
        // sqlx serialises concurrent migrators with an advisory lock, so servers starting
        // together are safe.
        MIGRATOR.run(&pool).await?;
        let writer = WriterHandle::spawn(
            PostgresWriter { pool: pool.clone() },
            options.max_batch,
            options.queue_capacity,
        );
        tracing::info!(url = %redact(url), "postgres store ready");
        Ok(Self { pool, writer })
    }
}

struct PostgresWriter {
    pool: PgPool,
}

/// Bumps every session of a batch in one statement, in id order, creating new sessions.
const BUMP_SESSIONS: &str = "
    INSERT INTO sessions (id, created_at, last_activity, message_count, last_seq)
    SELECT id, $2, $2, messages, events
    FROM UNNEST($1::text[], $3::bigint[], $4::bigint[]) AS batch (id, events, messages)
    ORDER BY id
    ON CONFLICT (id) DO UPDATE SET
        last_activity = GREATEST(sessions.last_activity, excluded.last_activity),
        message_count = sessions.message_count + excluded.message_count,
        last_seq = sessions.last_seq + excluded.last_seq
    RETURNING id, last_seq";

/// Inserts every event of a batch in one statement.
const INSERT_EVENTS: &str = "
    INSERT INTO events (session_id, seq, id, kind, ts, payload)
    SELECT session_id, seq, id, kind, $5, payload::jsonb
    FROM UNNEST($1::text[], $2::bigint[], $3::uuid[], $4::text[], $6::text[])
        AS batch (session_id, seq, id, kind, payload)";

#[async_trait]
impl LogWriter for PostgresWriter {
    async fn commit(&mut self, events: &[NewEvent]) -> Result<Vec<EventRef>> {
        let now = commit_timestamp();
        let bumps = plan(events);
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(BUMP_SESSIONS)
            .bind(
                bumps
                    .iter()
                    .map(|b| b.session_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(now)
            .bind(bumps.iter().map(|b| b.events).collect::<Vec<_>>())
            .bind(bumps.iter().map(|b| b.messages).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?;
        let mut by_id = HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            let last: i64 = row.try_get("last_seq")?;
            by_id.insert(id, last);
        }
        let last_seqs = bumps
            .iter()
            .map(|b| {
                by_id.get(&b.session_id).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!("no counter returned for session {}", b.session_id))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let refs = assign(events, &bumps, &last_seqs, now)?;
        sqlx::query(INSERT_EVENTS)
            .bind(
                events
                    .iter()
                    .map(|e| e.session_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(refs.iter().map(|r| r.seq).collect::<Vec<_>>())
            .bind(refs.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(now)
            .bind(
                events
                    .iter()
                    .map(|e| nul::to_jsonb_text(&e.payload))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(refs)
    }

    async fn append_existing(&mut self, event: &NewEvent) -> Result<Option<EventRef>> {
        let now = commit_timestamp();
        let id = Uuid::now_v7();
        let messages = i64::from(event.kind == EventKind::Message);
        let mut tx = self.pool.begin().await?;
        // The update locks the session row, so a purge from another server waits or wins.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET
                last_activity = GREATEST(last_activity, $2),
                message_count = message_count + $3,
                last_seq = last_seq + 1
             WHERE id = $1
             RETURNING last_seq",
        )
        .bind(&event.session_id)
        .bind(now)
        .bind(messages)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else {
            tx.rollback().await?;
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO events (session_id, seq, id, kind, ts, payload)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        )
        .bind(&event.session_id)
        .bind(seq)
        .bind(id)
        .bind(event.kind.as_str())
        .bind(now)
        .bind(nul::to_jsonb_text(&event.payload))
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
        let mut tx = self.pool.begin().await?;
        // Locking the session row first makes appends from other servers wait for the purge.
        sqlx::query("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE")
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM events WHERE session_id = $1")
            .bind(session_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    fn is_transient(&self, error: &StoreError) -> bool {
        // 40001 serialization_failure, 40P01 deadlock_detected.
        matches!(error, StoreError::Database(sqlx::Error::Database(db))
            if db.code().is_some_and(|code| code == "40001" || code == "40P01"))
    }

    async fn close(&mut self) {
        // The pool is shared with the readers and closed by the store.
    }
}

fn event_from_row(row: &PgRow) -> Result<Event> {
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

fn events_from_rows(rows: &[PgRow]) -> Result<Vec<Event>> {
    rows.iter().map(event_from_row).collect()
}

fn to_messages(events: Vec<Event>) -> Result<Vec<Message>> {
    events.into_iter().map(Message::try_from).collect()
}

#[async_trait]
impl EventStore for PostgresStore {
    fn backend(&self) -> BackendKind {
        BackendKind::Postgres
    }

    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<EventRef>> {
        self.writer.append(events).await
    }

    async fn short_memory(&self, session_id: &str, n: usize) -> Result<Vec<Message>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(select_events!(
            "WHERE session_id = $1 AND kind = 'message'
               AND seq > COALESCE((SELECT MAX(seq) FROM events
                                   WHERE session_id = $1 AND kind = 'reset'), 0)
             ORDER BY seq DESC LIMIT $2"
        ))
        .bind(session_id)
        .bind(sql_limit(n))
        .fetch_all(&self.pool)
        .await?;
        let mut messages = to_messages(events_from_rows(&rows)?)?;
        messages.reverse();
        Ok(messages)
    }

    async fn messages(&self, session_id: &str) -> Result<Vec<Message>> {
        let rows = sqlx::query(select_events!(
            "WHERE session_id = $1 AND kind = 'message' ORDER BY seq"
        ))
        .bind(session_id)
        .fetch_all(&self.pool)
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
            "WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(session_id)
        .bind(after_seq.unwrap_or(0))
        .bind(fetch)
        .fetch_all(&self.pool)
        .await?;
        Ok(into_page(events_from_rows(&rows)?, limit, |e| e.seq))
    }

    async fn counts(&self, session_id: &str, short_limit: usize) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT
                (SELECT COUNT(*) FROM (
                    SELECT 1 FROM events
                    WHERE session_id = $1 AND kind = 'message'
                      AND seq > COALESCE((SELECT MAX(seq) FROM events
                                          WHERE session_id = $1 AND kind = 'reset'), 0)
                    LIMIT $2) AS recent) AS short,
                COALESCE((SELECT message_count FROM sessions WHERE id = $1), 0) AS full",
        )
        .bind(session_id)
        .bind(sql_limit(short_limit))
        .fetch_one(&self.pool)
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
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let count: i64 = row.try_get("message_count")?;
                Ok(SessionSummary {
                    id: row.try_get("id")?,
                    created_at: row.try_get("created_at")?,
                    last_activity: row.try_get("last_activity")?,
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
            "WHERE session_id = $1 AND kind = 'plugin_execution' AND seq > $2
             ORDER BY seq LIMIT $3"
        ))
        .bind(session_id)
        .bind(after_seq.unwrap_or(0))
        .bind(fetch)
        .fetch_all(&self.pool)
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
        self.pool.close().await;
    }
}
