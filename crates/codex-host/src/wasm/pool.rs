//! Instances of one module, kept for reuse: created lazily up to the pool size, handed to
//! one call at a time, returned after it unless the call left the instance unusable.
//!
//! Each instance gets its own wasmtime engine. Extism stops a call by bumping the epoch of
//! the engine the call runs on, which interrupts every call running on that engine; with
//! one engine per instance, one call's timeout or cancellation never interrupts its
//! neighbours. The machine code is still compiled once: after the first instance, building
//! an engine's module is a hit in the compiled-module cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use codex_plugin::{PluginError, Progress, ProgressSink};
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::cache::ModuleCache;
use crate::telemetry;

/// One live instance of the module.
pub(crate) struct Instance {
    pub plugin: extism::Plugin,
    /// Whether the module's `initialize` export has run on this instance (or there is none).
    pub initialized: bool,
    /// Where this instance's `codex_progress` calls go: set for the length of a call.
    pub progress: ProgressSlot,
    /// What the module's panic hook said through `codex_panic` during the current call.
    pub panic: PanicSlot,
}

/// The last panic message a module reported through `codex_panic`.
pub(crate) type PanicSlot = extism::UserData<Option<String>>;

/// The name of the host function a module's panic hook calls with the panic's message and
/// location (one string), just before the panic traps the instance: Wasm has no stderr the
/// host can read, so this is how "panicked at src/lib.rs:12:5: ..." reaches the caller.
pub(crate) const PANIC_FUNCTION: &str = "codex_panic";

/// The sink of the call an instance runs, read by its `codex_progress` host function.
pub(crate) type ProgressSlot = extism::UserData<Option<ProgressSink>>;

/// The name of the host function modules import to report progress
/// (`extism:host/user` namespace): one string argument, a JSON object
/// `{"fraction": 0.0..1.0, "message": "..."}`, either member optional.
pub(crate) const PROGRESS_FUNCTION: &str = "codex_progress";

/// Builds instances of one module with its sandbox.
pub(crate) struct InstanceFactory {
    builder: extism::PluginBuilder<'static>,
}

impl InstanceFactory {
    pub(crate) fn new(sandbox: extism::Manifest, cache: &ModuleCache) -> Self {
        let builder = extism::PluginBuilder::new(sandbox).with_wasi(true);
        InstanceFactory {
            builder: cache.apply(builder),
        }
    }

    /// Compiles (or loads from the cache) and instantiates, with a progress function of
    /// the instance's own. Blocks: call it on a blocking thread.
    pub(crate) fn create(&self, initialized: bool) -> Result<Instance, String> {
        let progress: ProgressSlot = extism::UserData::new(None);
        let panic: PanicSlot = extism::UserData::new(None);
        let compiled = self
            .builder
            .clone()
            .with_function(
                PROGRESS_FUNCTION,
                [extism::PTR],
                [],
                progress.clone(),
                report_progress,
            )
            .with_function(
                PANIC_FUNCTION,
                [extism::PTR],
                [],
                panic.clone(),
                record_panic,
            )
            .compile()
            .map_err(|e| format!("not a loadable WebAssembly module: {e:#}"))?;
        let plugin = extism::Plugin::new_from_compiled(&compiled)
            .map_err(|e| format!("cannot instantiate the module: {e:#}"))?;
        Ok(Instance {
            plugin,
            initialized,
            progress,
            panic,
        })
    }
}

/// The optional exports, looked up once at load.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Exports {
    pub initialize: bool,
    pub shutdown: bool,
}

/// The instances of one plugin.
pub(crate) struct Pool {
    /// The plugin's name, the label of its pool size metric.
    plugin: String,
    factory: InstanceFactory,
    pub exports: Exports,
    idle: Mutex<Vec<Instance>>,
    /// One permit per instance that may exist; a call holds one for its whole run.
    permits: Arc<Semaphore>,
    closed: AtomicBool,
}

impl Pool {
    /// A pool of up to `size` instances, starting with the one load already made.
    pub(crate) fn new(
        plugin: &str,
        factory: InstanceFactory,
        size: usize,
        exports: Exports,
        first: Instance,
    ) -> Self {
        telemetry::wasm_instances_pooled(plugin, 1);
        Pool {
            plugin: plugin.to_owned(),
            factory,
            exports,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(size.max(1))),
            closed: AtomicBool::new(false),
        }
    }

    /// Waits for the right to use an instance.
    pub(crate) async fn permit(&self) -> Result<OwnedSemaphorePermit, PluginError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PluginError::Failed("the plugin has been shut down".to_owned()))
    }

    /// An idle instance, or a new one. Blocks when it has to create one.
    pub(crate) fn take(&self) -> Result<Instance, String> {
        {
            let mut idle = self.idle.lock();
            if let Some(instance) = idle.pop() {
                telemetry::wasm_instances_pooled(&self.plugin, idle.len());
                return Ok(instance);
            }
        }
        self.factory.create(!self.exports.initialize)
    }

    /// Returns a healthy instance for the next call; after shutdown it is dropped instead.
    pub(crate) fn give_back(&self, instance: Instance) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let mut idle = self.idle.lock();
        // Checked again under the lock, so `close` never misses an instance.
        if !self.closed.load(Ordering::Acquire) {
            idle.push(instance);
            telemetry::wasm_instances_pooled(&self.plugin, idle.len());
        }
    }

    /// Stops handing out instances and returns the idle ones (for their `shutdown`).
    pub(crate) fn close(&self) -> Vec<Instance> {
        let mut idle = self.idle.lock();
        self.closed.store(true, Ordering::Release);
        self.permits.close();
        telemetry::wasm_instances_pooled(&self.plugin, 0);
        std::mem::take(&mut *idle)
    }
}

/// The `codex_panic` host function: keeps the module's panic message for the error of the
/// trap that follows.
fn record_panic(
    plugin: &mut extism::CurrentPlugin,
    inputs: &[extism::Val],
    _outputs: &mut [extism::Val],
    slot: PanicSlot,
) -> Result<(), extism::Error> {
    let Some(input) = inputs.first() else {
        return Err(extism::Error::msg("codex_panic takes one string"));
    };
    let message: String = plugin.memory_get_val(input)?;
    let slot = slot.get()?;
    let mut slot = slot
        .lock()
        .map_err(|_| extism::Error::msg("the panic slot was poisoned"))?;
    *slot = Some(message);
    Ok(())
}

/// The panic message the module reported during its last call, taken.
pub(crate) fn take_panic(instance: &Instance) -> Option<String> {
    let slot = instance.panic.get().ok()?;
    let mut slot = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    slot.take()
}

/// The `codex_progress` host function: hands the module's report to the sink of the call
/// running on this instance. A malformed report is the module's error.
fn report_progress(
    plugin: &mut extism::CurrentPlugin,
    inputs: &[extism::Val],
    _outputs: &mut [extism::Val],
    slot: ProgressSlot,
) -> Result<(), extism::Error> {
    let Some(input) = inputs.first() else {
        return Err(extism::Error::msg("codex_progress takes one string"));
    };
    let text: String = plugin.memory_get_val(input)?;
    let report: Progress = serde_json::from_str(&text).map_err(|e| {
        extism::Error::msg(format!(
            "codex_progress takes a JSON object {{\"fraction\", \"message\"}}: {e}"
        ))
    })?;
    let sink = slot
        .get()?
        .lock()
        .map_err(|_| extism::Error::msg("the progress slot was poisoned"))?
        .clone();
    if let Some(sink) = sink {
        sink(Progress::new(report.fraction, report.message));
    }
    Ok(())
}
