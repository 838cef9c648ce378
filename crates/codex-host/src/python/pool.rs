//! A plugin's pool of workers: calls go to an idle worker, a killed or crashed worker is
//! replaced (crashes with backoff), and shutdown asks every worker to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use codex_plugin::{PluginError, ProgressSink};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::protocol::{self, CallContext, ExecuteParams, InitializeParams, method};
use super::worker::{CallError, Worker, WorkerSpec};

/// The first restart after a crash waits this long; each further crash in a row doubles
/// it, up to [`BACKOFF_MAX`]. A successful call resets it.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The longest load error, counted from the end (where a traceback says what failed).
const LOAD_ERROR_MAX: usize = 4096;

/// The workers of one plugin. Dropping the pool kills them.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    spec: WorkerSpec,
    size: usize,
    /// One permit per worker slot: a call holds one from checkout to release.
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Worker>>,
    state: Mutex<State>,
    /// Crashes in a row; read on every successful call, so kept outside the lock.
    crash_streak: AtomicU32,
    start_timeout: Duration,
    /// Cancelled when shutdown begins: no more restarts.
    closing: CancellationToken,
    /// Cancelled when the pool is gone: every worker is killed.
    kill: CancellationToken,
}

struct State {
    /// `initialize()` succeeded; replacement workers get it too.
    initialized: bool,
    /// No restart before this instant (crash backoff).
    not_before: Option<Instant>,
    /// The waits after each crash of the current streak; started afresh by a success.
    delays: ExponentialBackoff,
}

impl Default for State {
    fn default() -> Self {
        State {
            initialized: false,
            not_before: None,
            delays: restart_delays(),
        }
    }
}

impl Pool {
    /// Starts `size` workers: the first alone (a broken file fails once, not `size`
    /// times), the rest together. Returns the pool and the plugin's `describe` answer.
    pub async fn start(
        spec: WorkerSpec,
        size: usize,
        start_timeout: Duration,
        parent: &CancellationToken,
    ) -> Result<(Pool, Value), String> {
        let shared = Arc::new(Shared {
            spec,
            size,
            permits: Arc::new(Semaphore::new(size)),
            idle: Mutex::new(Vec::with_capacity(size)),
            state: Mutex::new(State::default()),
            crash_streak: AtomicU32::new(0),
            start_timeout,
            closing: CancellationToken::new(),
            kill: parent.child_token(),
        });
        let pool = Pool { shared };
        let (first, describe) = pool
            .shared
            .start_worker(false)
            .await
            .map_err(|e| protocol::tail(&e, LOAD_ERROR_MAX))?;
        let rest = (1..size).map(|_| pool.shared.start_worker(false));
        let mut workers = vec![first];
        for started in futures::future::join_all(rest).await {
            let (worker, _) = started.map_err(|e| protocol::tail(&e, LOAD_ERROR_MAX))?;
            workers.push(worker);
        }
        *pool.shared.idle.lock() = workers;
        Ok((pool, describe))
    }

    /// Calls `initialize()` in every worker; replacements started later get it as well.
    pub async fn initialize(&self) -> Result<(), PluginError> {
        let shared = &self.shared;
        let _all = shared
            .permits
            .acquire_many(permit_count(shared.size))
            .await
            .map_err(|_| unloaded())?;
        let mut workers: Vec<Worker> = shared.idle.lock().drain(..).collect();
        while workers.len() < shared.size {
            let (worker, _) = shared
                .start_worker(false)
                .await
                .map_err(PluginError::Failed)?;
            workers.push(worker);
        }
        let calls = workers
            .iter_mut()
            .map(|w| w.call(method::INITIALIZE, shared.initialize_params()));
        let results = futures::future::join_all(calls).await;
        let failure = results.into_iter().find_map(Result::err);
        if let Some(error) = failure {
            return Err(match error {
                CallError::Rpc(e) => e.into_plugin_error(),
                CallError::Died(message) => PluginError::Crashed(message),
            });
        }
        shared.state.lock().initialized = true;
        *shared.idle.lock() = workers;
        Ok(())
    }

    /// Runs one call in an idle worker, waiting for one if all are busy; its progress
    /// reports go to `progress`.
    pub async fn execute(
        &self,
        data: &Value,
        session_id: &str,
        progress: Option<&ProgressSink>,
    ) -> Result<Value, PluginError> {
        let params = ExecuteParams {
            data,
            context: CallContext {
                session_id,
                traceparent: codex_plugin::trace::current().map(|trace| trace.traceparent()),
            },
        };
        self.call(method::EXECUTE, params, progress).await
    }

    async fn call<P: Serialize>(
        &self,
        method: &str,
        params: P,
        progress: Option<&ProgressSink>,
    ) -> Result<Value, PluginError> {
        let shared = &self.shared;
        let permit = shared
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| unloaded())?;
        let worker = shared.take_worker().await?;
        let mut lease = Lease {
            shared: shared.clone(),
            permit: Some(permit),
            worker: Some(worker),
        };
        let Some(worker) = lease.worker.as_mut() else {
            return Err(PluginError::Crashed("no worker was available".to_owned()));
        };
        let outcome = worker.call_with_progress(method, params, progress).await;
        match outcome {
            Ok(value) => {
                shared.call_succeeded();
                lease.release();
                Ok(value)
            }
            Err(CallError::Rpc(error)) => {
                lease.release();
                Err(error.into_plugin_error())
            }
            Err(CallError::Died(message)) => {
                shared.note_crash();
                lease.replace_worker();
                Err(PluginError::Crashed(message))
            }
        }
    }

    /// Asks every worker to run `shutdown()` and exit, after in-flight calls end (each
    /// step bounded by `grace`); whatever is still running afterwards is killed.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), PluginError> {
        let shared = &self.shared;
        shared.closing.cancel();
        let drained = tokio::time::timeout(
            grace,
            shared.permits.acquire_many(permit_count(shared.size)),
        )
        .await;
        if drained.is_err() {
            tracing::warn!(plugin = %shared.spec.plugin, "python calls still running at shutdown");
        }
        let workers: Vec<Worker> = shared.idle.lock().drain(..).collect();
        shared.permits.close();
        let stops = workers.into_iter().map(|mut worker| async move {
            let result =
                tokio::time::timeout(grace, worker.call(method::SHUTDOWN, json!({}))).await;
            worker.close(grace).await;
            result
        });
        let results = futures::future::join_all(stops).await;
        shared.kill.cancel();
        let mut outcome = Ok(());
        for result in results {
            let error = match result {
                Ok(Ok(_)) => continue,
                Ok(Err(CallError::Rpc(e))) => e.into_plugin_error(),
                Ok(Err(CallError::Died(message))) => PluginError::Crashed(message),
                Err(_) => PluginError::Failed(format!(
                    "shutdown() did not return within {} ms",
                    grace.as_millis()
                )),
            };
            outcome = outcome.and(Err(error));
        }
        outcome
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.closing.cancel();
        self.shared.kill.cancel();
    }
}

impl Shared {
    fn initialize_params(&self) -> InitializeParams<'_> {
        InitializeParams {
            config: &self.spec.config,
        }
    }

    /// Spawns a worker and waits for its `describe` answer (and `initialize()` when the
    /// pool is initialized), within the start timeout.
    async fn start_worker(&self, initialize: bool) -> Result<(Worker, Value), String> {
        let mut worker = Worker::start(&self.spec, &self.kill).await?;
        let handshake = async {
            let describe = worker.call(method::DESCRIBE, json!({})).await?;
            if initialize {
                worker
                    .call(method::INITIALIZE, self.initialize_params())
                    .await?;
            }
            Ok::<_, CallError>(describe)
        };
        match tokio::time::timeout(self.start_timeout, handshake).await {
            Ok(Ok(describe)) => Ok((worker, describe)),
            Ok(Err(CallError::Rpc(error))) => Err(match error.code {
                protocol::code::LOAD_FAILED => error.message,
                _ => error.into_plugin_error().to_string(),
            }),
            Ok(Err(CallError::Died(message))) => Err(message),
            Err(_) => Err(format!(
                "the worker did not start within {} ms (a slow or hanging import?)",
                self.start_timeout.as_millis()
            )),
        }
    }

    /// An idle live worker, or a fresh one when this slot's worker is gone.
    async fn take_worker(self: &Arc<Self>) -> Result<Worker, PluginError> {
        let idle = self.idle.lock().pop();
        match idle {
            Some(worker) if worker.is_alive() => return Ok(worker),
            Some(dead) => {
                tracing::warn!(plugin = %self.spec.plugin, pid = dead.pid(), "python worker died while idle; restarting it");
                self.note_crash();
            }
            None => {}
        }
        self.restart()
            .await
            .map_err(|e| PluginError::Crashed(format!("the worker could not be restarted: {e}")))
    }

    /// Starts a replacement worker once the crash backoff allows it.
    async fn restart(&self) -> Result<Worker, String> {
        let not_before = self.state.lock().not_before;
        if let Some(at) = not_before {
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = self.closing.cancelled() => {}
            }
        }
        if self.closing.is_cancelled() {
            return Err("the plugin is shutting down".to_owned());
        }
        let initialize = self.state.lock().initialized;
        match self.start_worker(initialize).await {
            Ok((worker, _)) => {
                tracing::info!(plugin = %self.spec.plugin, pid = worker.pid(), "python worker restarted");
                crate::telemetry::python_worker_restarted(&self.spec.plugin);
                Ok(worker)
            }
            Err(e) => {
                self.note_crash();
                Err(e)
            }
        }
    }

    fn note_crash(&self) {
        self.crash_streak.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock();
        let delay = state.delays.next().unwrap_or(BACKOFF_MAX);
        state.not_before = Some(Instant::now() + delay);
    }

    fn call_succeeded(&self) {
        if self.crash_streak.load(Ordering::Relaxed) != 0 {
            self.crash_streak.store(0, Ordering::Relaxed);
            let mut state = self.state.lock();
            state.not_before = None;
            state.delays = restart_delays();
        }
    }
}

/// A worker checked out for one call, with its slot. Released normally it goes back to
/// the idle list; dropped mid-call (timeout, cancellation) its worker is killed and a
/// replacement started in the background, holding the slot until it is ready.
struct Lease {
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
    worker: Option<Worker>,
}

impl Lease {
    fn release(mut self) {
        if let Some(worker) = self.worker.take() {
            self.shared.idle.lock().push(worker);
        }
        // The permit drops after the worker is back, so the next caller finds it.
        self.permit.take();
    }

    fn replace_worker(mut self) {
        self.worker.take();
        if let Some(permit) = self.permit.take() {
            restart_in_background(self.shared.clone(), permit);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        tracing::info!(plugin = %self.shared.spec.plugin, pid = worker.pid(), "python call abandoned; killing its worker");
        worker.kill();
        drop(worker);
        if let Some(permit) = self.permit.take() {
            restart_in_background(self.shared.clone(), permit);
        }
    }
}

/// Starts a replacement for a lost worker; the slot stays taken until it is ready, so
/// the next call waits for it instead of starting one of its own. When the restart
/// fails, the slot is freed empty and the next call tries again.
fn restart_in_background(shared: Arc<Shared>, permit: OwnedSemaphorePermit) {
    if shared.closing.is_cancelled() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let _slot = permit;
        match shared.restart().await {
            Ok(worker) if !shared.closing.is_cancelled() => shared.idle.lock().push(worker),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(plugin = %shared.spec.plugin, %error, "python worker restart failed");
            }
        }
    });
}

/// The waits before restarting after each crash in a row: [`BACKOFF_START`] doubling up
/// to [`BACKOFF_MAX`], never running out.
fn restart_delays() -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(BACKOFF_START)
        .with_max_delay(BACKOFF_MAX)
        .with_factor(2.0)
        .without_max_times()
        .build()
}

fn permit_count(size: usize) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

fn unloaded() -> PluginError {
    PluginError::Crashed("the plugin was unloaded".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        // The delay after the n-th crash in a row, in whole milliseconds (the builder
        // multiplies in `f32`, a few nanoseconds off).
        let delays: Vec<u128> = restart_delays().take(1000).map(|d| d.as_millis()).collect();
        let delay = |streak: usize| delays[streak - 1];
        assert_eq!(delay(1), 100);
        assert_eq!(delay(2), 200);
        assert_eq!(delay(6), 3200);
        assert_eq!(delay(7), BACKOFF_MAX.as_millis());
        assert_eq!(delay(1000), BACKOFF_MAX.as_millis());
    }
}
