//! What runs right now, by id: plugin executions and chat turns, each with the token that
//! cancels it, so that a cancel request reaches the work wherever it was started from.
//!
//! An entry lives exactly as long as its [`Registration`]: the executor and the turn hold
//! one while they run, and dropping it (the work ended, or its future was dropped) removes
//! the entry. Nothing here stops work by itself; cancelling the token does, and the work
//! then ends as [`codex_plugin::PluginError::Cancelled`] or
//! [`ChatError::Cancelled`](crate::chat::ChatError::Cancelled).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What kind of work an id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// One plugin call (`POST /api/executions/{id}/cancel`).
    Execution,
    /// One chat turn (`POST /api/turns/{id}/cancel`).
    Turn,
}

/// One piece of running work, as listed (and as one server tells another).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    pub id: Uuid,
    pub kind: RunKind,
    pub session_id: String,
    /// The plugin, for an execution.
    pub plugin: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// Why a cancel request found nothing to cancel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// No work of that kind runs under that id here (it finished, or never existed).
    #[error("no running {} has id {id}", kind_label(.kind))]
    NotRunning { kind: RunKind, id: Uuid },
}

fn kind_label(kind: &RunKind) -> &'static str {
    kind_name(*kind)
}

fn kind_name(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Execution => "execution",
        RunKind::Turn => "turn",
    }
}

struct Entry {
    info: RunInfo,
    cancel: CancellationToken,
    /// Who asked for the cancel, once someone did; recorded with the cancelled run.
    cancelled_by: Option<String>,
}

/// The running work of this process. Cheap to clone; clones share the table.
#[derive(Clone, Default)]
pub struct Running {
    entries: Arc<Mutex<HashMap<Uuid, Entry>>>,
}

impl Running {
    pub fn new() -> Self {
        Running::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Entry>> {
        // A panic while the lock was held left the map itself intact: keep using it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `info` as running, cancelled through `cancel`; `None` when the id is taken.
    pub fn register(&self, info: RunInfo, cancel: CancellationToken) -> Option<Registration> {
        let id = info.id;
        let mut entries = self.lock();
        if entries.contains_key(&id) {
            return None;
        }
        entries.insert(
            id,
            Entry {
                info,
                cancel,
                cancelled_by: None,
            },
        );
        Some(Registration {
            running: self.clone(),
            id,
        })
    }

    /// Cancels the work of `kind` running under `id`; `by` says who asked (`api`, `mcp`, a
    /// server's name), and is kept with the run's audit event.
    pub fn cancel(&self, kind: RunKind, id: Uuid, by: &str) -> Result<RunInfo, CancelError> {
        let mut entries = self.lock();
        let entry = entries
            .get_mut(&id)
            .filter(|e| e.info.kind == kind)
            .ok_or(CancelError::NotRunning { kind, id })?;
        entry.cancelled_by.get_or_insert_with(|| by.to_owned());
        entry.cancel.cancel();
        tracing::info!(id = %id, kind = kind_name(kind), by, "cancel requested");
        Ok(entry.info.clone())
    }

    /// Whether work of `kind` runs under `id` here.
    pub fn contains(&self, kind: RunKind, id: Uuid) -> bool {
        self.lock().get(&id).is_some_and(|e| e.info.kind == kind)
    }

    /// Everything running now, oldest first.
    pub fn list(&self) -> Vec<RunInfo> {
        let mut list: Vec<RunInfo> = self.lock().values().map(|e| e.info.clone()).collect();
        list.sort_by_key(|info| info.id);
        list
    }
}

/// Keeps an entry in [`Running`]; dropping it removes the entry.
pub struct Registration {
    running: Running,
    id: Uuid,
}

impl Registration {
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Who cancelled the run, if someone asked.
    pub fn cancelled_by(&self) -> Option<String> {
        self.running
            .lock()
            .get(&self.id)
            .and_then(|e| e.cancelled_by.clone())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.running.lock().remove(&self.id);
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(kind: RunKind) -> RunInfo {
        RunInfo {
            id: Uuid::now_v7(),
            kind,
            session_id: "s".to_owned(),
            plugin: None,
            started_at: Utc::now(),
        }
    }

    #[test]
    fn cancel_reaches_the_token_and_the_entry_goes_with_its_registration() {
        let running = Running::new();
        let token = CancellationToken::new();
        let run = info(RunKind::Execution);
        let id = run.id;
        let registration = running.register(run.clone(), token.clone()).unwrap();
        assert!(running.register(run, CancellationToken::new()).is_none());
        // A turn id does not cancel an execution.
        assert!(running.cancel(RunKind::Turn, id, "api").is_err());
        assert!(!token.is_cancelled());
        running.cancel(RunKind::Execution, id, "api").unwrap();
        assert!(token.is_cancelled());
        assert_eq!(registration.cancelled_by().as_deref(), Some("api"));
        drop(registration);
        assert_eq!(
            running.cancel(RunKind::Execution, id, "api"),
            Err(CancelError::NotRunning {
                kind: RunKind::Execution,
                id
            })
        );
        assert!(running.list().is_empty());
    }
}
