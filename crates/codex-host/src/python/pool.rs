//! A plugin's pool of workers: calls go to an idle worker (or, pipelining, queue behind a
//! fast one's running call), a killed or crashed worker is replaced (crashes with
//! backoff), and shutdown asks every worker to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use codex_plugin::{PluginError, ProgressSink};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::calls::{Call, Outcome, Reservation, SendError};
use super::protocol::{self, CallContext, ExecuteParams, InitializeParams, method};
use super::worker::{CallError, Worker, WorkerSpec};

/// The first restart after a crash waits this long; each further crash in a row doubles
/// it, up to [`BACKOFF_MAX`]. A successful call resets it.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The longest load error, counted from the end (where a traceback says what failed).
const LOAD_ERROR_MAX: usize = 4096;
/// With pipelining on, a worker whose calls take less than this on average gets its next
/// call while it runs the current one; slower ones get one call at a time, so a call
/// never waits behind a long one while another worker could take it.
const PIPELINE_BELOW: Duration = Duration::from_millis(1);
/// Calls in flight on one worker when pipelining: the running one and the next.
const PIPELINE_DEPTH: usize = 2;
/// How often a call is sent again when the worker it waited in dies before reading it.
const MAX_SENDS: u32 = 3;

/// The workers of one plugin. Dropping the pool kills them.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

/// What one place of the pool holds.
enum Slot {
    Live(Arc<Worker>),
    /// A worker is being started for it.
    Starting,
    /// Its last start failed: the next call tries again.
    Empty,
}

struct Shared {
    spec: WorkerSpec,
    /// Calls in flight on one worker at most.
    depth: usize,
    /// Pipelining: a worker whose average call is shorter gets a next call while it runs.
    pipeline_below: Option<Duration>,
    slots: Mutex<Vec<Slot>>,
    /// Signalled when a call ends or a worker is started: room may have appeared.
    freed: Arc<Notify>,
    /// Calls hold it shared; `initialize` and `shutdown` alone.
    exclusive: tokio::sync::RwLock<()>,
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

/// What a caller found in the pool.
enum Pick {
    Ready(Arc<Worker>, Reservation),
    /// An empty place, now marked as starting: the caller starts its worker.
    Start(usize),
    Wait,
}

impl Pool {
    /// Starts `size` workers: the first alone (a broken file fails once, not `size`
    /// times), the rest together. With `pipeline`, a fast worker gets its next call while
    /// it runs the current one. Returns the pool and the plugin's `describe` answer.
    pub async fn start(
        spec: WorkerSpec,
        size: usize,
        pipeline: bool,
        start_timeout: Duration,
        parent: &CancellationToken,
    ) -> Result<(Pool, Value), String> {
        let below = pipeline.then_some(PIPELINE_BELOW);
        Pool::start_with(spec, size, below, start_timeout, parent).await
    }

    /// [`Pool::start`] with the service time under which calls are pipelined.
    async fn start_with(
        spec: WorkerSpec,
        size: usize,
        pipeline_below: Option<Duration>,
        start_timeout: Duration,
        parent: &CancellationToken,
    ) -> Result<(Pool, Value), String> {
        let shared = Arc::new(Shared {
            spec,
            depth: if pipeline_below.is_some() {
                PIPELINE_DEPTH
            } else {
                1
            },
            pipeline_below,
            slots: Mutex::new(Vec::with_capacity(size)),
            freed: Arc::new(Notify::new()),
            exclusive: tokio::sync::RwLock::new(()),
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
        let mut slots = vec![Slot::Live(Arc::new(first))];
        for started in futures::future::join_all(rest).await {
            let (worker, _) = started.map_err(|e| protocol::tail(&e, LOAD_ERROR_MAX))?;
            slots.push(Slot::Live(Arc::new(worker)));
        }
        *pool.shared.slots.lock() = slots;
        Ok((pool, describe))
    }

    /// Calls `initialize()` in every worker; replacements started later get it as well.
    pub async fn initialize(&self) -> Result<(), PluginError> {
        let shared = &self.shared;
        let _alone = shared.exclusive.write().await;
        // Set first: a replacement that starts meanwhile initializes itself.
        shared.state.lock().initialized = true;
        let workers = shared.live_workers();
        let calls = workers
            .iter()
            .map(|w| w.call(method::INITIALIZE, shared.initialize_params()));
        let results = futures::future::join_all(calls).await;
        let failure = results.into_iter().find_map(Result::err);
        if let Some(error) = failure {
            shared.state.lock().initialized = false;
            shared.retire_dead();
            return Err(call_error(error));
        }
        Ok(())
    }

    /// Runs one call in a worker with room, waiting for one if all are busy; its progress
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
        let shared = &self.shared;
        let _shared = shared.exclusive.read().await;
        let mut sends = 0;
        loop {
            let (worker, reservation) = shared.acquire().await?;
            sends += 1;
            let call = match reservation
                .send(method::EXECUTE, &params, progress.cloned())
                .await
            {
                Ok(call) => call,
                // The worker ended between the pick and the write: as if it never read it.
                Err(SendError::Closed) if sends < MAX_SENDS => {
                    shared.retire_dead();
                    continue;
                }
                Err(SendError::Closed) => return Err(never_read(sends)),
                Err(SendError::Encode(message)) => return Err(PluginError::Failed(message)),
            };
            let attempt = Attempt {
                shared,
                worker: &worker,
                call: Some(call),
            };
            match attempt.outcome().await {
                Outcome::Answered(response) => {
                    return match response.error {
                        Some(error) => Err(error.into_plugin_error()),
                        None => {
                            shared.call_succeeded();
                            Ok(response.result)
                        }
                    };
                }
                Outcome::Died(message) => {
                    shared.retire_dead();
                    return Err(PluginError::Crashed(message));
                }
                Outcome::NotStarted if sends < MAX_SENDS => shared.retire_dead(),
                Outcome::NotStarted => {
                    shared.retire_dead();
                    return Err(never_read(sends));
                }
            }
        }
    }

    /// Asks every idle worker to run `shutdown()` and exit, after in-flight calls end (each
    /// step bounded by `grace`); whatever is still running afterwards is killed.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), PluginError> {
        let shared = &self.shared;
        shared.closing.cancel();
        shared.freed.notify_waiters();
        let drained = tokio::time::timeout(grace, shared.exclusive.write()).await;
        if drained.is_err() {
            tracing::warn!(plugin = %shared.spec.plugin, "python calls still running at shutdown");
        }
        let workers: Vec<Arc<Worker>> = shared
            .live_workers()
            .into_iter()
            .filter(|w| w.calls().load() == 0)
            .collect();
        shared.slots.lock().clear();
        let stops = workers.into_iter().map(|worker| async move {
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
                Ok(Err(error)) => call_error(error),
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

/// A call sent to a worker. Dropped before its outcome (the caller's deadline or
/// cancellation), the call is abandoned, which kills the worker if it runs it, and the
/// worker's place is refilled at once.
struct Attempt<'a> {
    shared: &'a Arc<Shared>,
    worker: &'a Arc<Worker>,
    call: Option<Call>,
}

impl Attempt<'_> {
    async fn outcome(mut self) -> Outcome {
        let outcome = match self.call.as_mut() {
            Some(call) => call.outcome().await,
            None => Outcome::NotStarted,
        };
        self.call = None;
        outcome
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        drop(call);
        if self.worker.calls().is_dead() {
            tracing::info!(plugin = %self.shared.spec.plugin, pid = self.worker.pid(), "python call abandoned; its worker was killed");
            self.shared.retire_dead();
        }
    }
}

impl Shared {
    fn initialize_params(&self) -> InitializeParams<'_> {
        InitializeParams {
            config: &self.spec.config,
        }
    }

    fn live_workers(&self) -> Vec<Arc<Worker>> {
        self.slots
            .lock()
            .iter()
            .filter_map(|slot| match slot {
                Slot::Live(worker) if !worker.calls().is_dead() => Some(worker.clone()),
                _ => None,
            })
            .collect()
    }

    /// Starts a worker and waits for its `describe` answer (and `initialize()` when the
    /// pool is initialized), within the start timeout.
    async fn start_worker(&self, initialize: bool) -> Result<(Worker, Value), String> {
        let worker = Worker::start(&self.spec, &self.kill, self.freed.clone()).await?;
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
            Ok(Err(CallError::NotStarted)) => Err("the worker ended at once".to_owned()),
            Err(_) => Err(format!(
                "the worker did not start within {} ms (a slow or hanging import?)",
                self.start_timeout.as_millis()
            )),
        }
    }

    /// A worker with room for one more call, reserved; waits while there is none.
    async fn acquire(self: &Arc<Self>) -> Result<(Arc<Worker>, Reservation), PluginError> {
        loop {
            let notified = self.freed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.closing.is_cancelled() {
                return Err(unloaded());
            }
            match self.pick() {
                Pick::Ready(worker, reservation) => return Ok((worker, reservation)),
                Pick::Start(index) => {
                    let mut place = StartingPlace {
                        shared: self,
                        index,
                        worker: None,
                    };
                    let started = self.restart().await.map_err(|e| {
                        PluginError::Crashed(format!("the worker could not be restarted: {e}"))
                    })?;
                    place.worker = Some(Arc::new(started));
                    continue;
                }
                Pick::Wait => {}
            }
            tokio::select! {
                () = notified => {}
                () = self.closing.cancelled() => return Err(unloaded()),
            }
        }
    }

    /// An idle worker first; else, when pipelining, a fast one with one call running.
    fn pick(self: &Arc<Self>) -> Pick {
        let mut slots = self.slots.lock();
        self.retire_dead_in(&mut slots);
        let mut best: Option<(usize, usize)> = None;
        let mut empty = None;
        for (index, slot) in slots.iter().enumerate() {
            match slot {
                Slot::Live(worker) => {
                    let calls = worker.calls();
                    let load = calls.load();
                    if load == 0 {
                        best = Some((index, 0));
                        break;
                    }
                    let fast = calls
                        .service_time()
                        .zip(self.pipeline_below)
                        .is_some_and(|(took, below)| took < below);
                    if load < self.depth && fast && best.is_none_or(|(_, least)| load < least) {
                        best = Some((index, load));
                    }
                }
                Slot::Empty => {
                    empty.get_or_insert(index);
                }
                Slot::Starting => {}
            }
        }
        if let Some((index, _)) = best
            && let Slot::Live(worker) = &slots[index]
        {
            return Pick::Ready(worker.clone(), worker.calls().reserve());
        }
        if let Some(index) = empty {
            slots[index] = Slot::Starting;
            return Pick::Start(index);
        }
        Pick::Wait
    }

    /// Replaces every dead worker, in the background.
    fn retire_dead(self: &Arc<Self>) {
        let mut slots = self.slots.lock();
        self.retire_dead_in(&mut slots);
    }

    fn retire_dead_in(self: &Arc<Self>, slots: &mut [Slot]) {
        for (index, slot) in slots.iter_mut().enumerate() {
            let Slot::Live(worker) = slot else {
                continue;
            };
            if !worker.calls().is_dead() {
                continue;
            }
            // Its death was logged by its reader; a worker the host stopped did not crash.
            if !worker.calls().was_stopped() {
                self.note_crash();
            }
            *slot = Slot::Starting;
            self.restart_in_background(index);
        }
    }

    /// Starts a replacement for the worker of place `index`; the place stays taken until
    /// it is ready, so calls wait for it instead of starting their own. When the restart
    /// fails, the place is left empty and the next call tries again.
    fn restart_in_background(self: &Arc<Self>, index: usize) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = self.clone();
        runtime.spawn(async move {
            let mut place = StartingPlace {
                shared: &shared,
                index,
                worker: None,
            };
            match shared.restart().await {
                Ok(worker) => place.worker = Some(Arc::new(worker)),
                Err(error) => {
                    tracing::warn!(plugin = %shared.spec.plugin, %error, "python worker restart failed");
                }
            }
        });
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
        let started = match self.start_worker(initialize).await {
            Ok((worker, _)) => {
                // `initialize()` may have been asked for while this one started.
                if !initialize && self.state.lock().initialized {
                    worker
                        .call(method::INITIALIZE, self.initialize_params())
                        .await
                        .map(|_| worker)
                        .map_err(|e| call_error(e).to_string())
                } else {
                    Ok(worker)
                }
            }
            Err(e) => Err(e),
        };
        match started {
            Ok(worker) => {
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

/// A place whose worker is being started. Dropped, it holds the new worker if the start
/// succeeded (and the pool is not closing), else it is left empty; either way callers
/// waiting for room look again.
struct StartingPlace<'a> {
    shared: &'a Arc<Shared>,
    index: usize,
    worker: Option<Arc<Worker>>,
}

impl Drop for StartingPlace<'_> {
    fn drop(&mut self) {
        let shared = self.shared;
        let slot = match self.worker.take() {
            Some(worker) if !shared.closing.is_cancelled() => Slot::Live(worker),
            _ => Slot::Empty,
        };
        let mut slots = shared.slots.lock();
        if let Some(place) = slots.get_mut(self.index) {
            *place = slot;
        }
        drop(slots);
        for _ in 0..shared.depth {
            shared.freed.notify_one();
        }
    }
}

fn never_read(sends: u32) -> PluginError {
    PluginError::Crashed(format!(
        "the call was sent {sends} times and each time its worker ended before reading it"
    ))
}

fn call_error(error: CallError) -> PluginError {
    match error {
        CallError::Rpc(e) => e.into_plugin_error(),
        CallError::Died(message) => PluginError::Crashed(message),
        CallError::NotStarted => PluginError::Crashed("the worker had ended".to_owned()),
    }
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

fn unloaded() -> PluginError {
    PluginError::Crashed("the plugin was unloaded".to_owned())
}

#[cfg(test)]
mod tests;
