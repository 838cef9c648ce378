//! The SQLite writer: a synchronous connection (rusqlite) on a thread of its own.
//!
//! Group commit already shares one commit between many appends; what a commit costs beyond
//! SQLite's own work is the hand-over between threads. Through sqlx a batch went from the
//! writer task to sqlx's worker thread and each answered row came back over a channel of its
//! own. Here the writer task runs on the thread that owns the connection, so a batch costs
//! one wake-up of that thread and one per waiting caller, and statements are prepared once and
//! reused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use crate::error::{Result, StoreError};
use crate::event::{EventKind, EventRef, NewEvent};
use crate::rollup::derive;
use crate::store::SqliteDurability;
use crate::writer::{LogWriter, assign, commit_timestamp, plan};

use super::checkpoint::{Checkpointer, RESTART_WAIT, checkpoint, checkpoint_restart};
use super::{derived, format_ts};

/// Bytes of WAL file kept after a checkpoint rewinds it; beyond that the file is truncated.
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// Bumps a session's counter, creating the session on its first event, and answers the new
/// last sequence number.
const BUMP_SESSION: &str =
    "INSERT INTO sessions (id, created_at, last_activity, message_count, last_seq, title)
     VALUES (?1, ?2, ?2, ?3, ?4, ?5)
     ON CONFLICT (id) DO UPDATE SET
         last_activity = MAX(sessions.last_activity, excluded.last_activity),
         message_count = sessions.message_count + excluded.message_count,
         last_seq = sessions.last_seq + excluded.last_seq,
         title = COALESCE(sessions.title, excluded.title)
     RETURNING last_seq";

const INSERT_EVENT: &str = "INSERT INTO events (session_id, seq, id, kind, ts, payload)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

pub(super) struct SqliteWriter {
    /// `None` once closed.
    conn: Option<Connection>,
    checkpointer: Checkpointer,
    /// The database's WAL file, whose size says when a catch-up must restart it.
    wal: PathBuf,
    busy_timeout: Duration,
}

impl SqliteWriter {
    /// Opens the writer's connection to a database the migrations already created.
    pub(super) fn open(
        path: &Path,
        durability: SqliteDurability,
        busy_timeout: Duration,
    ) -> Result<Self> {
        // NO_MUTEX: the connection lives on one thread; SQLite need not lock it per call.
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(busy_timeout)?;
        let synchronous = match durability {
            SqliteDurability::Full => "FULL",
            SqliteDurability::Normal => "NORMAL",
        };
        // WAL is a property of the file (the migrations set it); the rest is per connection.
        // No automatic checkpoint inside commits: a thread of its own does the bulk and the
        // writer catches up between commits (super::checkpoint).
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {synchronous};
             PRAGMA foreign_keys = ON;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
        ))?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Self {
            conn: Some(conn),
            checkpointer: Checkpointer::spawn(path, busy_timeout)?,
            wal: PathBuf::from(wal),
            busy_timeout,
        })
    }

    /// The catch-up checkpoint, between two commits, once the checkpoint thread did the
    /// bulk (see [`super::checkpoint`]): afterwards the WAL rewinds at the next commit.
    /// When the WAL has outgrown [`WAL_SIZE_LIMIT`] (readers kept it from rewinding), the
    /// catch-up also waits briefly for them to leave it, so that it rewinds.
    fn checkpoint_when_due(&mut self) {
        if let (Some(conn), true) = (self.conn.as_ref(), self.checkpointer.take_due()) {
            let outgrown = std::fs::metadata(&self.wal).is_ok_and(|wal| wal.len() > WAL_SIZE_LIMIT);
            if outgrown {
                checkpoint_restart(conn, RESTART_WAIT, self.busy_timeout);
            } else {
                checkpoint(conn);
            }
        }
    }

    fn conn(&mut self) -> Result<&mut Connection> {
        self.conn.as_mut().ok_or(StoreError::Closed)
    }
}

#[async_trait]
impl LogWriter for SqliteWriter {
    /// One transaction: every session counter bumped (each answering its new last sequence
    /// number), then every event inserted with the number [`assign`] gives it, then what the
    /// events derive ([`derived`]). Nothing here awaits: the writer task owns this thread.
    async fn commit(&mut self, events: &[NewEvent]) -> Result<Vec<EventRef>> {
        let now = commit_timestamp();
        let ts = format_ts(now);
        let bumps = plan(events);
        let conn = self.conn()?;
        // IMMEDIATE takes the write lock up front, so another process holding it makes us wait
        // (busy timeout) instead of failing on a read-to-write upgrade. Dropping the
        // transaction on an error rolls it back.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut last_seqs = Vec::with_capacity(bumps.len());
        {
            let mut bump_session = tx.prepare_cached(BUMP_SESSION)?;
            for bump in &bumps {
                let last: i64 = bump_session.query_row(
                    params![bump.session_id, ts, bump.messages, bump.events, bump.title],
                    |row| row.get(0),
                )?;
                last_seqs.push(last);
            }
        }
        let refs = assign(events, &bumps, &last_seqs, now)?;
        {
            let mut insert_event = tx.prepare_cached(INSERT_EVENT)?;
            let mut id = uuid::Uuid::encode_buffer();
            let mut payload = Vec::with_capacity(256);
            for (event, landed) in events.iter().zip(&refs) {
                payload.clear();
                serde_json::to_writer(&mut payload, &event.payload)
                    .map_err(|err| StoreError::InvalidEvent(format!("payload: {err}")))?;
                let payload = std::str::from_utf8(&payload)
                    .map_err(|err| StoreError::InvalidEvent(format!("payload: {err}")))?;
                insert_event.execute(params![
                    event.session_id,
                    landed.seq,
                    &*landed.id.hyphenated().encode_lower(&mut id),
                    event.kind.as_str(),
                    ts,
                    payload,
                ])?;
            }
        }
        derived::write(&tx, &derive(events, &refs, now)?, &ts)?;
        tx.commit()?;
        self.checkpoint_when_due();
        Ok(refs)
    }

    async fn append_existing(&mut self, event: &NewEvent) -> Result<Option<EventRef>> {
        let now = commit_timestamp();
        let ts = format_ts(now);
        let messages = i64::from(event.kind == EventKind::Message);
        let title = plan(std::slice::from_ref(event))
            .pop()
            .and_then(|bump| bump.title);
        let conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq: Option<i64> = {
            let mut bump = tx.prepare_cached(
                "UPDATE sessions SET
                    last_activity = MAX(last_activity, ?2),
                    message_count = message_count + ?3,
                    last_seq = last_seq + 1,
                    title = COALESCE(title, ?4)
                 WHERE id = ?1
                 RETURNING last_seq",
            )?;
            let mut rows = bump.query(params![event.session_id, ts, messages, title])?;
            match rows.next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            }
        };
        let Some(seq) = seq else {
            tx.rollback()?;
            return Ok(None);
        };
        let id = uuid::Uuid::now_v7();
        tx.prepare_cached(INSERT_EVENT)?.execute(params![
            event.session_id,
            seq,
            id.hyphenated().to_string(),
            event.kind.as_str(),
            ts,
            event.payload.to_string(),
        ])?;
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
        derived::write(&tx, &derives, &ts)?;
        tx.commit()?;
        self.checkpoint_when_due();
        Ok(Some(landed))
    }

    async fn delete_session(&mut self, session_id: &str) -> Result<u64> {
        let conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        derived::purge(&tx, session_id)?;
        let deleted = tx.execute("DELETE FROM events WHERE session_id = ?1", [session_id])?;
        tx.execute("DELETE FROM sessions WHERE id = ?1", [session_id])?;
        tx.commit()?;
        Ok(deleted as u64)
    }

    fn is_transient(&self, error: &StoreError) -> bool {
        // SQLITE_BUSY outlasting the busy timeout: another process held the lock too long.
        matches!(error, StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
            if failure.code == ErrorCode::DatabaseBusy)
    }

    async fn close(&mut self) {
        self.checkpointer.stop();
        let Some(conn) = self.conn.take() else {
            return;
        };
        if let Err((_conn, error)) = conn.close() {
            tracing::warn!(%error, "closing the sqlite writer connection");
        }
    }
}
