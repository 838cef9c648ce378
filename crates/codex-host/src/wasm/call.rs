//! One call into a module: on a blocking thread, stopped at its deadline or when the
//! caller cancels, and its failure sorted into timeout, memory limit, trap or plugin error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_plugin::{PluginError, ProgressSink};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::CallLimits;
use super::pool::{Instance, Pool, take_panic};

/// What to run and within which bounds.
pub(crate) struct CallSpec {
    /// The plugin's name, for error messages.
    pub plugin: String,
    /// The bytes for `execute`; `None` only makes sure an instance is initialized.
    pub input: Option<Vec<u8>>,
    pub started: Instant,
    pub deadline: Instant,
    pub cancel: CancellationToken,
    pub limits: CallLimits,
    /// Where the module's `codex_progress` reports go during `execute`.
    pub progress: Option<ProgressSink>,
}

/// Runs `spec` on an instance from `pool`; `Ok(None)` when there was no input.
///
/// The blocking thread owns the pool permit and the instance: if the caller stops waiting,
/// the call is interrupted (the caller's cancellation reaches the watcher) and the permit
/// comes back only once the Wasm code has really stopped.
pub(crate) async fn run(pool: Arc<Pool>, spec: CallSpec) -> Result<Option<Vec<u8>>, PluginError> {
    let permit = tokio::select! {
        permit = pool.permit() => permit?,
        _ = spec.cancel.cancelled() => return Err(stopped(&spec, None)),
    };
    let watch = Arc::new(Watch::default());
    let (deadline, cancel) = (spec.deadline, spec.cancel.clone());
    let blocking_watch = watch.clone();
    let mut task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // The module's own log lines (`extism_pdk::info!`, ...) are Extism's tracing events
        // on this thread: the span tags each with the plugin's name. Its level is the
        // highest so that it exists whenever any of those lines is logged.
        let _plugin = tracing::error_span!("wasm_plugin", plugin = %spec.plugin).entered();
        run_blocking(&pool, &spec, Finish(&blocking_watch))
    });
    // The watcher runs inside this future while the caller waits, which spares a task per
    // call; if the caller stops waiting first, it carries on as a task of its own.
    let mut detach = DetachOnDrop(Some((watch.clone(), deadline, cancel.clone())));
    let stopper = watch.stop_at(deadline, cancel);
    tokio::pin!(stopper);
    let joined = tokio::select! {
        joined = &mut task => joined,
        () = &mut stopper => (&mut task).await,
    };
    detach.0 = None;
    joined.map_err(|e| PluginError::Crashed(format!("the Wasm call panicked: {e}")))?
}

/// Hands the watcher to a task of its own when the caller drops a call still running.
struct DetachOnDrop(Option<(Arc<Watch>, Instant, CancellationToken)>);

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        if let Some((watch, deadline, cancel)) = self.0.take()
            && !watch.finished.is_cancelled()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(watch.stop_at(deadline, cancel));
        }
    }
}

fn run_blocking(
    pool: &Pool,
    spec: &CallSpec,
    finish: Finish<'_>,
) -> Result<Option<Vec<u8>>, PluginError> {
    if finish.0.is_stopped() {
        return Err(stopped(spec, None));
    }
    let mut instance = pool
        .take()
        .map_err(|e| PluginError::Crashed(format!("cannot start a Wasm instance: {e}")))?;
    if !finish.0.arm(instance.plugin.cancel_handle()) {
        // Stopped while the instance was being made: it never ran, so it is still good.
        pool.give_back(instance);
        return Err(stopped(spec, None));
    }
    if !instance.initialized {
        if let Err((error, rc)) = instance
            .plugin
            .call_get_error_code::<&[u8], Vec<u8>>("initialize", &[])
        {
            drop(finish);
            let failure = Failure::classify(&error, rc);
            return Err(match failure {
                Failure::Guest(message) => {
                    PluginError::Failed(format!("initialize failed: {message}"))
                }
                other => other.into_error(spec),
            });
        }
        instance.initialized = true;
    }
    let Some(input) = &spec.input else {
        drop(finish);
        pool.give_back(instance);
        return Ok(None);
    };
    set_progress(&instance, spec.progress.clone());
    // A panic the module caught itself in an earlier call is not this call's.
    take_panic(&instance);
    let outcome = instance
        .plugin
        .call_get_error_code::<&[u8], Vec<u8>>("execute", input.as_slice());
    set_progress(&instance, None);
    // No cancellation can reach this instance after this point, so it is safe to reuse.
    drop(finish);
    match outcome {
        Ok(output) => {
            pool.give_back(instance);
            Ok(Some(output))
        }
        Err((error, rc)) => {
            let failure = Failure::classify(&error, rc);
            let panicked = take_panic(&instance);
            if failure.instance_survives() {
                pool.give_back(instance);
            }
            Err(match (failure, panicked) {
                // A trap after the module's panic hook spoke: the panic's own words.
                (Failure::Trap(_), Some(panic)) => PluginError::Crashed(format!(
                    "plugin '{}' {}",
                    spec.plugin,
                    panic.trim_end().replace('\n', " ")
                )),
                (failure, _) => failure.into_error(spec),
            })
        }
    }
}

/// Points the instance's `codex_progress` at `sink` (or at nothing).
fn set_progress(instance: &Instance, sink: Option<ProgressSink>) {
    match instance.progress.get() {
        Ok(slot) => match slot.lock() {
            Ok(mut slot) => *slot = sink,
            Err(poisoned) => *poisoned.into_inner() = sink,
        },
        Err(error) => tracing::warn!(%error, "the Wasm progress slot is unavailable"),
    }
}

/// Runs the `shutdown` export of each instance, ignoring none of the errors.
pub(crate) fn shutdown_blocking(instances: Vec<Instance>) -> Result<(), String> {
    let mut errors = Vec::new();
    for mut instance in instances {
        if let Err((error, rc)) = instance
            .plugin
            .call_get_error_code::<&[u8], Vec<u8>>("shutdown", &[])
        {
            errors.push(Failure::classify(&error, rc).message());
        }
    }
    match errors.is_empty() {
        true => Ok(()),
        false => Err(format!("shutdown failed: {}", errors.join("; "))),
    }
}

/// How a failed Extism call ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Failure {
    /// Stopped by the timeout or a cancellation (an epoch interrupt).
    Interrupted,
    /// The instance asked for memory past its limit.
    OutOfMemory,
    /// The module trapped (a panic in Rust guests, `unreachable`, a bad memory access).
    Trap(String),
    /// The module returned an error, or the host refused something it asked for.
    Guest(String),
}

/// Extism's return code for a call that ended in a trap.
const TRAP_CODE: i32 = 134;

impl Failure {
    /// Extism reports timeouts and the memory limit as plain errors whose message is
    /// `timeout` and `oom` (it has no typed errors for them); a trap is told by the
    /// return code it pairs with the error.
    pub(crate) fn classify(error: &extism::Error, rc: i32) -> Failure {
        let message = error.to_string();
        let root = error.root_cause().to_string();
        if message == "timeout" && rc == TRAP_CODE {
            Failure::Interrupted
        } else if message == "oom" {
            Failure::OutOfMemory
        } else if rc == TRAP_CODE {
            Failure::Trap(root)
        } else {
            Failure::Guest(root)
        }
    }

    /// Only an error the module returned leaves the instance in a known state.
    fn instance_survives(&self) -> bool {
        matches!(self, Failure::Guest(_))
    }

    fn message(&self) -> String {
        match self {
            Failure::Interrupted => "interrupted by its timeout".to_owned(),
            Failure::OutOfMemory => "memory limit exceeded".to_owned(),
            Failure::Trap(message) | Failure::Guest(message) => message.clone(),
        }
    }

    fn into_error(self, spec: &CallSpec) -> PluginError {
        match self {
            Failure::Interrupted => stopped(spec, Some(spec.started.elapsed())),
            Failure::OutOfMemory => PluginError::Crashed(format!(
                "plugin '{}' exceeded its memory limit of {} MiB; the instance was stopped",
                spec.plugin, spec.limits.memory_limit_mb
            )),
            Failure::Trap(message) => {
                PluginError::Crashed(format!("plugin '{}' trapped: {message}", spec.plugin))
            }
            Failure::Guest(message) => guest_error(message),
        }
    }
}

/// An error the module returned: `invalid_input: <why>` rejects the input (422), as
/// docs/PLUGINS.md documents; anything else is the plugin's own failure, message and all.
fn guest_error(message: String) -> PluginError {
    match message.strip_prefix("invalid_input:") {
        Some(why) => PluginError::InvalidInput(why.trim().to_owned()),
        None => PluginError::raised(None, message),
    }
}

/// The error for a call stopped before or while it ran: a timeout, unless the caller
/// cancelled before the deadline.
fn stopped(spec: &CallSpec, ran_for: Option<Duration>) -> PluginError {
    let now = Instant::now();
    if spec.cancel.is_cancelled() && now < spec.deadline {
        return PluginError::Cancelled;
    }
    // Extism's own timer stops a call at `limits.timeout`; the host's deadline may be sooner.
    let after = match ran_for {
        Some(ran) if ran >= spec.limits.timeout => spec.limits.timeout,
        _ => round_up_to_ms(spec.deadline.saturating_duration_since(spec.started)),
    };
    PluginError::Timeout {
        plugin: spec.plugin.clone(),
        after,
    }
}

fn round_up_to_ms(duration: Duration) -> Duration {
    let ms = duration.as_micros().div_ceil(1000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// How the watcher task reaches a call running on a blocking thread.
#[derive(Default)]
struct Watch {
    state: Mutex<WatchState>,
    /// Cancelled when the call is over; ends the watcher.
    finished: CancellationToken,
}

#[derive(Default)]
struct WatchState {
    handle: Option<extism::CancelHandle>,
    /// The watcher decided to stop the call.
    fired: bool,
    /// The call is over; no cancel may be sent any more.
    done: bool,
}

/// How often a stop is repeated: a cancel sent in the instant between arming and the
/// start of the Wasm call is lost, and the next one catches it.
const RESEND: Duration = Duration::from_millis(50);

impl Watch {
    /// Waits for the deadline or the caller's cancellation, then interrupts the call until
    /// it is over.
    async fn stop_at(self: Arc<Self>, deadline: Instant, cancel: CancellationToken) {
        tokio::select! {
            _ = self.finished.cancelled() => return,
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
        loop {
            {
                let mut state = self.state.lock();
                if state.done {
                    return;
                }
                state.fired = true;
                if let Some(handle) = &state.handle
                    && let Err(error) = handle.cancel()
                {
                    tracing::warn!(%error, "cannot interrupt a Wasm call");
                }
            }
            tokio::select! {
                _ = self.finished.cancelled() => return,
                _ = tokio::time::sleep(RESEND) => {}
            }
        }
    }

    fn is_stopped(&self) -> bool {
        self.state.lock().fired
    }

    /// Lets the watcher interrupt the instance; `false` if it already decided to stop.
    fn arm(&self, handle: extism::CancelHandle) -> bool {
        let mut state = self.state.lock();
        state.handle = Some(handle);
        !state.fired
    }
}

/// Marks the call over when dropped (also when the blocking code panics), so the watcher
/// never sends a cancel to an instance that went back to the pool.
struct Finish<'a>(&'a Watch);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        state.done = true;
        state.handle = None;
        drop(state);
        self.0.finished.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_told_apart() {
        let check = |message: &str, rc: i32, expected: Failure| {
            assert_eq!(
                Failure::classify(&extism::Error::msg(message.to_owned()), rc),
                expected,
                "{message}"
            );
        };
        check("timeout", TRAP_CODE, Failure::Interrupted);
        check("oom", -1, Failure::OutOfMemory);
        check(
            "wasm trap: unreachable",
            TRAP_CODE,
            Failure::Trap("wasm trap: unreachable".into()),
        );
        check("bad input", -1, Failure::Guest("bad input".into()));
        // A module may well say "timeout" itself; without the trap code it is its own error.
        check("timeout", -1, Failure::Guest("timeout".into()));
    }

    #[test]
    fn rounds_up_to_whole_milliseconds() {
        assert_eq!(
            round_up_to_ms(Duration::from_micros(999_998)),
            Duration::from_millis(1000)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_millis(7)),
            Duration::from_millis(7)
        );
    }
}
