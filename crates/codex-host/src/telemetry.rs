//! The host's Prometheus metrics: plugin calls, MCP servers, Python workers, Wasm pools.
//!
//! Metrics go through the `metrics` facade, which records nothing until the application
//! installs a recorder (`codex-server` does, and renders them at `/metrics`). Labels are
//! plugin and server names, never inputs or session ids, so every family stays bounded.

use std::collections::HashMap;
use std::hash::Hash;
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
/// kept and reused ([`HandleCache`]); called by whoever installs it. Before that the facade
/// hands out handles that record nothing, and those are not kept.
pub fn recorder_installed() {
    RECORDER_READY.store(true, Ordering::Release);
}

/// Labelled metric handles kept by a small key and a name (a plugin, a route), for the
/// families recorded on every request: labelling a metric builds its key (owned label
/// strings, a hash, a lookup in the recorder's registry) on every use, which cost more than
/// the count itself. Handles are kept only once the recorder is installed.
pub struct HandleCache<K, V>(RwLock<HashMap<K, HashMap<Box<str>, V>>>);

impl<K, V> Default for HandleCache<K, V> {
    fn default() -> Self {
        Self(RwLock::new(HashMap::new()))
    }
}

impl<K: Hash + Eq, V: Clone> HandleCache<K, V> {
    /// The handles kept for `key` and `name`, registered by `register` the first time.
    pub fn get(&self, key: K, name: &str, register: impl FnOnce() -> V) -> V {
        if !RECORDER_READY.load(Ordering::Acquire) {
            return register();
        }
        if let Some(handles) = self.0.read().get(&key).and_then(|names| names.get(name)) {
            return handles.clone();
        }
        let handles = register();
        self.0
            .write()
            .entry(key)
            .or_default()
            .entry(name.into())
            .or_insert(handles)
            .clone()
    }
}

/// One plugin's call metrics.
struct PluginHandles {
    in_flight: Gauge,
    duration: Histogram,
    /// Calls that succeeded, the outcome of nearly every call, counted without a lock.
    ok: Counter,
    /// The calls counter for every other outcome, added as outcomes occur.
    others: Mutex<Vec<(&'static str, Counter)>>,
    plugin: Box<str>,
    kind: &'static str,
}

impl PluginHandles {
    fn register(plugin: &str, kind: &'static str) -> Self {
        PluginHandles {
            in_flight: metrics::gauge!(PLUGIN_CALLS_IN_FLIGHT, "plugin" => plugin.to_owned(), "kind" => kind),
            duration: metrics::histogram!(PLUGIN_CALL_DURATION, "plugin" => plugin.to_owned(), "kind" => kind),
            ok: metrics::counter!(PLUGIN_CALLS, "plugin" => plugin.to_owned(), "kind" => kind, "outcome" => "ok"),
            others: Mutex::new(Vec::new()),
            plugin: plugin.into(),
            kind,
        }
    }

    fn calls(&self, outcome: &'static str) -> Counter {
        if outcome == "ok" {
            return self.ok.clone();
        }
        let mut others = self.others.lock();
        if let Some((_, counter)) = others.iter().find(|(known, _)| *known == outcome) {
            return counter.clone();
        }
        let counter = metrics::counter!(PLUGIN_CALLS, "plugin" => self.plugin.to_string(), "kind" => self.kind, "outcome" => outcome);
        others.push((outcome, counter.clone()));
        counter
    }
}

/// Handles by kind, then plugin name (bounded: the plugins ever loaded).
static PLUGIN_HANDLES: LazyLock<HandleCache<&'static str, Arc<PluginHandles>>> =
    LazyLock::new(HandleCache::default);

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
        let kind = kind.as_str();
        let handles = PLUGIN_HANDLES.get(kind, plugin, || {
            Arc::new(PluginHandles::register(plugin, kind))
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_registered_once_per_key_and_name() {
        recorder_installed();
        let cache: HandleCache<u16, u32> = HandleCache::default();
        let mut registered = 0;
        let mut get = |key, name| {
            cache.get(key, name, || {
                registered += 1;
                registered
            })
        };
        assert_eq!(get(200, "/a"), 1);
        assert_eq!(get(200, "/a"), 1, "kept, not registered again");
        assert_eq!(get(200, "/b"), 2);
        assert_eq!(get(404, "/a"), 3);
        assert_eq!(get(404, "/a"), 3);
    }
}
