//! The PostgreSQL writer: each batch in one transaction of a few multi-row statements (arrays
//! bound once, `UNNEST`ed), on a pooled connection.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::event::{EventKind, EventRef, NewEvent};
use crate::rollup::derive;
use crate::writer::{LogWriter, assign, commit_timestamp, plan};

use super::{derived, nul};

pub(super) struct PostgresWriter {
    pool: PgPool,
}

impl PostgresWriter {
    /// A writer on `pool`, which it shares with the readers.
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Bumps every session of a batch in one statement, in id order, creating new sessions.
const BUMP_SESSIONS: &str = "
    INSERT INTO sessions (id, created_at, last_activity, message_count, last_seq, title)
    SELECT id, $2, $2, messages, events, title
    FROM UNNEST($1::text[], $3::bigint[], $4::bigint[], $5::text[])
        AS batch (id, events, messages, title)
    ORDER BY id
    ON CONFLICT (id) DO UPDATE SET
        last_activity = GREATEST(sessions.last_activity, excluded.last_activity),
        message_count = sessions.message_count + excluded.message_count,
        last_seq = sessions.last_seq + excluded.last_seq,
        title = COALESCE(sessions.title, excluded.title)
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
            .bind(
                bumps
                    .iter()
                    .map(|b| b.title.as_deref().map(nul::escape_str))
                    .collect::<Vec<_>>(),
            )
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
        derived::write(&mut tx, &derive(events, &refs, now)?, now).await?;
        tx.commit().await?;
        Ok(refs)
    }

    async fn append_existing(&mut self, event: &NewEvent) -> Result<Option<EventRef>> {
        let now = commit_timestamp();
        let id = Uuid::now_v7();
        let messages = i64::from(event.kind == EventKind::Message);
        let title = plan(std::slice::from_ref(event))
            .pop()
            .and_then(|bump| bump.title);
        let mut tx = self.pool.begin().await?;
        // The update locks the session row, so a purge from another server waits or wins.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET
                last_activity = GREATEST(last_activity, $2),
                message_count = message_count + $3,
                last_seq = last_seq + 1,
                title = COALESCE(title, $4)
             WHERE id = $1
             RETURNING last_seq",
        )
        .bind(&event.session_id)
        .bind(now)
        .bind(messages)
        .bind(title.as_deref().map(nul::escape_str))
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
        let landed = EventRef {
            id,
            session_id: event.session_id.clone(),
            seq,
            timestamp: now,
        };
        let derives = derive(
            std::slice::from_ref(event),
            std::slice::from_ref(&landed),
            now,
        )?;
        derived::write(&mut tx, &derives, now).await?;
        tx.commit().await?;
        Ok(Some(landed))
    }

    async fn delete_session(&mut self, session_id: &str) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        // Locking the session row first makes appends from other servers wait for the purge.
        sqlx::query("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE")
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await?;
        derived::purge(&mut tx, session_id).await?;
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
