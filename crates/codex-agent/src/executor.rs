//! The executor: runs a plugin through the manager and appends the run to the session's log
//! before answering, so every acknowledged execution is stored.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use codex_host::{Execution, ExecutionRequest, PluginManager};
use codex_plugin::{PluginError, Progress};
use codex_store::{EventStore, ExecutionSource, NewEvent, PluginExecution, StoreError};
use uuid::Uuid;

use crate::running::{RunInfo, RunKind, Running};

/// A successful run and where its log event landed.
#[derive(Debug, Clone)]
pub struct LoggedExecution {
    pub execution: Execution,
    /// The id of the stored `plugin_execution` event.
    pub execution_id: Uuid,
    /// Its place in the session's log.
    pub seq: i64,
}

/// Why [`Executor::execute`] gave no result.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The session id is refused by the store (empty or too long); nothing ran.
    #[error("invalid session id: {0}")]
    InvalidSession(StoreError),
    /// Another execution is running under the run id asked for; nothing ran.
    #[error("an execution with run id {0} is already running")]
    RunIdInUse(Uuid),
    /// The plugin failed; the failure is in the log under `execution_id`.
    #[error("{error}")]
    Plugin {
        /// The name asked for (the plugin may not exist).
        plugin: String,
        error: PluginError,
        execution_id: Uuid,
    },
    /// The run could not be logged. Its result is withheld: what is not stored is not
    /// acknowledged.
    #[error("cannot log the execution: {0}")]
    Store(StoreError),
}

/// Runs plugins and logs every run, successful or not. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    plugins: PluginManager,
    store: Arc<dyn EventStore>,
    running: Running,
}

impl Executor {
    pub fn new(plugins: PluginManager, store: Arc<dyn EventStore>) -> Self {
        Executor {
            plugins,
            store,
            running: Running::new(),
        }
    }

    /// The executions and turns running now, by id, for cancel requests.
    pub fn running(&self) -> &Running {
        &self.running
    }

    pub fn plugins(&self) -> &PluginManager {
        &self.plugins
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Runs `request` and appends a `plugin_execution` event to its session; answers once the
    /// event is committed (concurrent calls share commits).
    pub async fn execute(
        &self,
        request: ExecutionRequest,
        source: ExecutionSource,
    ) -> Result<LoggedExecution, ExecuteError> {
        self.execute_as(Uuid::now_v7(), request, source).await
    }

    /// [`Executor::execute`] under run id `run_id`: while it runs,
    /// `running().cancel(RunKind::Execution, run_id, ..)` cancels `request.cancel`, and the
    /// run ends as [`PluginError::Cancelled`], logged with who cancelled it.
    ///
    /// The last progress message the plugin reports is kept on the logged event; the
    /// reports themselves go to `request.progress`, as they come.
    pub async fn execute_as(
        &self,
        run_id: Uuid,
        mut request: ExecutionRequest,
        source: ExecutionSource,
    ) -> Result<LoggedExecution, ExecuteError> {
        codex_store::validate_session_id(&request.session_id)
            .map_err(ExecuteError::InvalidSession)?;
        let session_id = request.session_id.clone();
        let actor = request.actor.clone();
        let asked = request.plugin.clone();
        let input = request.data.clone();
        let info = RunInfo {
            id: run_id,
            kind: RunKind::Execution,
            session_id: session_id.clone(),
            plugin: Some(self.canonical_name(&asked)),
            started_at: chrono::Utc::now(),
        };
        let registration = self
            .running
            .register(info, request.cancel.clone())
            .ok_or(ExecuteError::RunIdInUse(run_id))?;
        // While the plugin runs, the store knows a log entry is coming (group commit waits for
        // such entries rather than committing each alone).
        let intent = self.store.announce_append();
        let last_message = Arc::new(Mutex::new(None::<String>));
        let forward = request.progress.take();
        let kept = last_message.clone();
        request.progress = Some(Arc::new(move |report: Progress| {
            if let Some(message) = &report.message {
                *kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(message.clone());
            }
            if let Some(forward) = &forward {
                forward(report);
            }
        }));
        let started = Instant::now();
        let outcome = self.plugins.execute(request).await;
        let last_message = last_message
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let cancelled_by = registration.cancelled_by();
        drop(registration);
        let record = match &outcome {
            Ok(execution) => PluginExecution::ok(
                execution.plugin.clone(),
                input,
                execution.result.clone(),
                millis(execution.duration),
                source,
            ),
            Err(error) => PluginExecution::failed(
                self.canonical_name(&asked),
                input,
                error.code(),
                match (error, cancelled_by) {
                    (PluginError::Cancelled, Some(by)) => format!("{error} (cancelled by {by})"),
                    _ => error.logged_text(),
                },
                millis(started.elapsed()),
                source,
            ),
        };
        let record = record.with_progress(last_message);
        drop(intent);
        let stored = self
            .store
            .append_one(
                NewEvent::plugin_execution(&session_id, &record).with_actor(actor.as_deref()),
            )
            .await;
        let stored = match stored {
            Ok(stored) => stored,
            Err(error) => {
                tracing::error!(session_id = %session_id, plugin = %record.plugin, error = %error, "execution not logged");
                return Err(ExecuteError::Store(error));
            }
        };
        match outcome {
            Ok(execution) => Ok(LoggedExecution {
                execution,
                execution_id: stored.id,
                seq: stored.seq,
            }),
            Err(error) => Err(ExecuteError::Plugin {
                plugin: asked,
                error,
                execution_id: stored.id,
            }),
        }
    }

    /// The canonical name of `asked`, or `asked` itself when no plugin answers to it.
    fn canonical_name(&self, asked: &str) -> String {
        self.plugins
            .get(asked)
            .map(|entry| entry.info.name.clone())
            .unwrap_or_else(|_| asked.to_owned())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
