//! The host's Prometheus metrics: plugin calls, MCP servers, Python workers, Wasm pools.
//!
//! Metrics go through the `metrics` facade, which records nothing until the application
//! installs a recorder (`codex-server` does, and renders them at `/metrics`). Labels are
//! plugin and server names, never inputs or session ids, so every family stays bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use codex_plugin::{PluginError, PluginKind};
use metrics::{Counter, Gauge, Histogram};
use parking_lot::{Mutex, RwLock};

/// Plugin calls by plugin, kind and outcome.
pub const PLUGIN_CALLS: &str = "codex_plugin_calls_total";
/// How long plugin calls took, by plugin and kind, in seconds.
pub const PLUGIN_CALL_DURATION: &str = "codex_plugin_call_duration_seconds";
/// Plugin calls running now, by plugin and kind.
pub const PLUGIN_CALLS_IN_FLIGHT: &str = "codex_plugin_calls_in_flight";
/// 1 while an MCP server is connected, 0 while it is down or restarting.
pub const MCP_SERVER_UP: &str = "codex_mcp_server_up";
/// How often an MCP server was restarted after dying or failing to start.
pub const MCP_SERVER_RESTARTS: &str = "codex_mcp_server_restarts_total";
/// How often a Python plugin's worker was replaced after a crash, a kill or a timeout.
pub const PYTHON_WORKER_RESTARTS: &str = "codex_python_worker_restarts_total";
/// Idle Wasm instances kept in a plugin's pool.
pub const WASM_INSTANCES_POOLED: &str = "codex_wasm_instances_pooled";

/// The outcome label of a finished call: `ok`, `timeout`, `cancelled`, or the error's code.
pub(crate) fn outcome(
    result: &Result<serde_json::Value, PluginError>,
    cancelled: bool,
) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(PluginError::Timeout { .. }) => "timeout",
        Err(_) if cancelled => "cancelled",
        Err(error) => error.code(),
    }
}

/// Set once the process's recorder is installed ([`recorder_installed`]).
static RECORDER_READY: AtomicBool = AtomicBool::new(false);

/// Says that the process's recorder is installed, so metric handles taken from now on may be
/// kept and reused; called by whoever installs it. Before that the facade hands out handles
/// that record nothing, and those are not kept.
pub fn recorder_installed() {
    RECORDER_READY.store(true, Ordering::Release);
}

/// One plugin's call metrics, registered once: labelling a metric builds its key (owned
/// label strings, a hash, a registry lookup) on every use, which cost more than the count.
struct PluginHandles {
    in_flight: Gauge,
    duration: Histogram,
    /// The calls counter per outcome, added as outcomes occur (a handful per plugin).
    calls: Mutex<Vec<(&'static str, Counter)>>,
    plugin: Box<str>,
    kind: &'static str,
}

impl PluginHandles {
    fn register(plugin: &str, kind: &'static str) -> Self {
        PluginHandles {
            in_flight: metrics::gauge!(PLUGIN_CALLS_IN_FLIGHT, "plugin" => plugin.to_owned(), "kind" => kind),
            duration: metrics::histogram!(PLUGIN_CALL_DURATION, "plugin" => plugin.to_owned(), "kind" => kind),
            calls: Mutex::new(Vec::new()),
            plugin: plugin.into(),
            kind,
        }
    }

    fn calls(&self, outcome: &'static str) -> Counter {
        let mut calls = self.calls.lock();
        if let Some((_, counter)) = calls.iter().find(|(known, _)| *known == outcome) {
            return counter.clone();
        }
        let counter = metrics::counter!(PLUGIN_CALLS, "plugin" => self.plugin.to_string(), "kind" => self.kind, "outcome" => outcome);
        calls.push((outcome, counter.clone()));
        counter
    }
}

/// Handles by kind, then plugin name. Names are bounded (plugins loaded, ever).
type PluginHandleMap = HashMap<&'static str, HashMap<Box<str>, Arc<PluginHandles>>>;
static PLUGIN_HANDLES: LazyLock<RwLock<PluginHandleMap>> = LazyLock::new(RwLock::default);

fn plugin_handles(plugin: &str, kind: &'static str) -> Arc<PluginHandles> {
    if !RECORDER_READY.load(Ordering::Acquire) {
        return Arc::new(PluginHandles::register(plugin, kind));
    }
    if let Some(handles) = PLUGIN_HANDLES
        .read()
        .get(kind)
        .and_then(|plugins| plugins.get(plugin))
    {
        return Arc::clone(handles);
    }
    let handles = Arc::new(PluginHandles::register(plugin, kind));
    PLUGIN_HANDLES
        .write()
        .entry(kind)
        .or_default()
        .insert(plugin.into(), Arc::clone(&handles));
    handles
}

/// One plugin call as metrics see it: counted in flight from [`CallMetrics::start`], and
/// counted with its outcome by [`CallMetrics::finish`], or as `cancelled` when dropped first
/// (the caller went away and the call's future with it).
pub(crate) struct CallMetrics {
    handles: Arc<PluginHandles>,
    started: Instant,
    finished: bool,
}

impl CallMetrics {
    pub(crate) fn start(plugin: &str, kind: PluginKind) -> Self {
        let handles = plugin_handles(plugin, kind.as_str());
        handles.in_flight.increment(1.0);
        CallMetrics {
            handles,
            started: Instant::now(),
            finished: false,
        }
    }

    pub(crate) fn finish(mut self, outcome: &'static str) {
        self.record(outcome);
    }

    /// Uncounts a call that never reached its plugin (its entry was retired meanwhile).
    pub(crate) fn discard(mut self) {
        self.finished = true;
        self.handles.in_flight.decrement(1.0);
    }

    fn record(&mut self, outcome: &'static str) {
        self.finished = true;
        self.handles.in_flight.decrement(1.0);
        self.handles.calls(outcome).increment(1);
        self.handles
            .duration
            .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for CallMetrics {
    fn drop(&mut self) {
        if !self.finished {
            self.record("cancelled");
        }
    }
}

/// Marks an MCP server up or down.
pub(crate) fn mcp_server_up(server: &str, up: bool) {
    metrics::gauge!(MCP_SERVER_UP, "server" => server.to_owned()).set(if up { 1.0 } else { 0.0 });
}

/// Counts a restart of an MCP server.
pub(crate) fn mcp_server_restarted(server: &str) {
    metrics::counter!(MCP_SERVER_RESTARTS, "server" => server.to_owned()).increment(1);
}

/// Counts a replaced Python worker.
#[cfg(feature = "python")]
pub(crate) fn python_worker_restarted(plugin: &str) {
    metrics::counter!(PYTHON_WORKER_RESTARTS, "plugin" => plugin.to_owned()).increment(1);
}

/// Sets how many idle instances a Wasm plugin's pool holds.
#[cfg(feature = "wasm")]
pub(crate) fn wasm_instances_pooled(plugin: &str, idle: usize) {
    metrics::gauge!(WASM_INSTANCES_POOLED, "plugin" => plugin.to_owned()).set(idle as f64);
}

/// Says what each family means (the `# HELP` lines); called once by whoever installs the
/// recorder.
pub fn describe() {
    metrics::describe_counter!(
        PLUGIN_CALLS,
        "Plugin calls by plugin, kind and outcome (ok, timeout, cancelled, or the error code)."
    );
    metrics::describe_histogram!(
        PLUGIN_CALL_DURATION,
        metrics::Unit::Seconds,
        "Plugin call latency, the wait for a concurrency slot included."
    );
    metrics::describe_gauge!(PLUGIN_CALLS_IN_FLIGHT, "Plugin calls running now.");
    metrics::describe_gauge!(
        MCP_SERVER_UP,
        "1 while an MCP server is connected, 0 while it is down."
    );
    metrics::describe_counter!(
        MCP_SERVER_RESTARTS,
        "Restarts of MCP servers after dying or failing to start."
    );
    metrics::describe_counter!(
        PYTHON_WORKER_RESTARTS,
        "Python workers replaced after a crash, a kill or a timeout."
    );
    metrics::describe_gauge!(
        WASM_INSTANCES_POOLED,
        "Idle Wasm instances kept in a plugin's pool."
    );
}
