//! The WAL checkpoint, in two steps so that the writer neither stalls nor lets the WAL grow.
//!
//! A checkpoint copies committed pages from the WAL into the database file and syncs that
//! file; SQLite rewinds the WAL at the next write only if every frame in it was copied. A
//! checkpoint from another connection, beside a writer that never pauses, always leaves the
//! newest frames behind, so under steady load the WAL never rewound (it grew to 640 MB in 8 s,
//! every new page zeroed by the kernel before its first write). A checkpoint by the writer
//! itself rewinds it, but holds every waiting append for the copy and the sync (p99 of about
//! 30 ms under load when the writer did all of it every 200 ms).
//!
//! So this thread does the bulk beside the writer, every [`CHECKPOINT_EVERY`], and then asks
//! the writer, through a flag, for a catch-up checkpoint between two commits: that one copies
//! only the frames appended meanwhile, and the WAL rewinds. A failed checkpoint loses nothing
//! (the commits are in the WAL); it runs again next time.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Result, StoreError};

/// How often the bulk of the WAL is copied into the database file.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Runs `PRAGMA wal_checkpoint(PASSIVE)` on `conn`, logging a failure.
pub(super) fn checkpoint(conn: &Connection) {
    // Answers (busy, frames in the WAL, frames copied); busy is 1 when a reader's snapshot
    // kept some frames from being copied.
    if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        row.get::<_, i64>(0)
    }) {
        tracing::warn!(%error, "sqlite checkpoint failed; retrying later");
    }
}

/// How long the writer waits for readers to leave the WAL in a restarting checkpoint before
/// it gives up until the next one (writes wait meanwhile, so this stays short).
pub(super) const RESTART_WAIT: Duration = Duration::from_millis(50);

/// Runs `PRAGMA wal_checkpoint(RESTART)` on `conn`: copies every frame, then waits (at most
/// `wait`) until no reader uses the WAL, so the next commit writes it from its start again.
/// Under a steady stream of reads there is always a reader holding an old snapshot, and a
/// passive checkpoint never lets the WAL rewind: the soak saw it grow by 40 MB a second.
/// Logs a failure; a busy outcome is retried at the next catch-up.
pub(super) fn checkpoint_restart(conn: &Connection, wait: Duration, usual_wait: Duration) {
    if let Err(error) = conn.busy_timeout(wait) {
        tracing::warn!(%error, "sqlite checkpoint: cannot set the busy timeout");
        return;
    }
    let outcome = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
        row.get::<_, i64>(0)
    });
    match outcome {
        Ok(0) => {}
        Ok(_) => tracing::debug!("sqlite checkpoint: readers kept the WAL from restarting"),
        Err(error) => tracing::warn!(%error, "sqlite restarting checkpoint failed; retrying later"),
    }
    if let Err(error) = conn.busy_timeout(usual_wait) {
        tracing::warn!(%error, "sqlite checkpoint: cannot restore the busy timeout");
    }
}

/// The background half; stopped and joined by [`Checkpointer::stop`], or told to stop when
/// dropped.
pub(super) struct Checkpointer {
    /// Set after each background checkpoint; the writer takes it and catches up.
    due: Arc<AtomicBool>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn spawn(path: &Path, busy_timeout: Duration) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(busy_timeout)?;
        let due = Arc::new(AtomicBool::new(false));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (thread_due, thread_stop) = (Arc::clone(&due), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("codex-sqlite-ckpt".to_owned())
            .spawn(move || {
                let (stopped, wake) = &*thread_stop;
                let mut stopped = stopped.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    stopped = wake
                        .wait_timeout(stopped, CHECKPOINT_EVERY)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    if *stopped {
                        break;
                    }
                    checkpoint(&conn);
                    thread_due.store(true, Ordering::Release);
                }
                drop(stopped);
                if let Err((_conn, error)) = conn.close() {
                    tracing::warn!(%error, "closing the sqlite checkpoint connection");
                }
            })
            .map_err(|err| StoreError::Io(format!("cannot start the checkpoint thread: {err}")))?;
        Ok(Self {
            due,
            stop,
            thread: Some(thread),
        })
    }

    /// Whether a background checkpoint ran since the last call.
    pub(super) fn take_due(&self) -> bool {
        self.due.swap(false, Ordering::Acquire)
    }

    fn signal_stop(&self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
    }

    /// Stops the thread and waits for it (at most one checkpoint in progress). Blocks: call it
    /// from the writer's own thread.
    pub(super) fn stop(&mut self) {
        self.signal_stop();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the sqlite checkpoint thread panicked");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signal_stop();
    }
}
