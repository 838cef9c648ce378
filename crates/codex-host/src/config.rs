//! Host settings: where plugins live, default limits, aliases and per-plugin overrides.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::mcp::McpServerConfig;

/// Limits applied to every call of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// How long one call may take, queueing for a concurrency slot included.
    pub timeout_ms: u64,
    /// The largest result, measured as serialised JSON.
    pub max_output_bytes: usize,
    /// How many calls of one plugin may run at once; further calls queue.
    pub max_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: 30_000,
            max_output_bytes: 1024 * 1024,
            max_concurrency: 64,
        }
    }
}

impl Limits {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Per-plugin settings from the config file (`[plugins.<name>]`); every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    pub enabled: Option<bool>,
    pub timeout_ms: Option<u64>,
    pub max_output_bytes: Option<usize>,
    pub max_concurrency: Option<usize>,
    /// Free-form configuration handed to the plugin in its `ExecContext`.
    #[serde(default)]
    pub config: Option<Value>,
    /// Who gets a built-in's name when a file in the plugins folder has it too: the file
    /// (the default: the folder is the user's choice) or the built-in.
    pub prefer: Option<Prefer>,
    /// Whether a model's calls run (`allow`), wait for a person (`ask`) or are refused
    /// (`deny`); an admin can change it at run time.
    pub policy: Option<codex_plugin::Policy>,
}

/// `[plugins.<name>] prefer`: which plugin takes a name that a built-in and a file share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefer {
    /// The file loads and the built-in steps aside.
    #[default]
    File,
    /// The built-in keeps its name; the file is reported as not loaded.
    Builtin,
}

impl PluginSettings {
    /// These settings laid over `base` (the manifest's or the defaults).
    pub fn apply_to(&self, base: Limits) -> Limits {
        Limits {
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            max_output_bytes: self.max_output_bytes.unwrap_or(base.max_output_bytes),
            max_concurrency: self.max_concurrency.unwrap_or(base.max_concurrency).max(1),
        }
    }

    /// `other`'s fields where set, else ours: config-file settings override a manifest's.
    pub fn overridden_by(&self, other: &PluginSettings) -> PluginSettings {
        PluginSettings {
            enabled: other.enabled.or(self.enabled),
            timeout_ms: other.timeout_ms.or(self.timeout_ms),
            max_output_bytes: other.max_output_bytes.or(self.max_output_bytes),
            max_concurrency: other.max_concurrency.or(self.max_concurrency),
            config: other.config.clone().or_else(|| self.config.clone()),
            prefer: other.prefer.or(self.prefer),
            policy: other.policy.or(self.policy),
        }
    }
}

/// Everything the host needs to know, already validated by the binary.
///
/// [`HostConfig::default`] holds the defaults the binary's config file starts from, so
/// they are written down once, here.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The plugins folder (`plugins` by default, relative to the working directory).
    pub plugins_dir: PathBuf,
    pub limits: Limits,
    /// alias → plugin name.
    pub aliases: BTreeMap<String, String>,
    pub plugins: BTreeMap<String, PluginSettings>,
    /// Whether the folder should be watched and reloaded on change (on by default); the
    /// caller acts on it with [`crate::PluginManager::watch`].
    pub watch: bool,
    /// How long `initialize` may take.
    pub init_timeout: Duration,
    /// MCP servers whose tools become plugins `<server>__<tool>`, by server name.
    pub mcp_servers: BTreeMap<String, McpServerConfig>,
}

impl HostConfig {
    pub fn new(plugins_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            plugins_dir: plugins_dir.into(),
            limits: Limits::default(),
            aliases: default_aliases(),
            plugins: BTreeMap::new(),
            watch: true,
            init_timeout: Duration::from_secs(30),
            mcp_servers: BTreeMap::new(),
        }
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig::new("plugins")
    }
}

/// Settings for every Python plugin; a manifest's `[python]` table overrides
/// `interpreter` and `pool_size` per plugin.
///
/// Defined here rather than in [`crate::python`] so that its defaults are readable in
/// builds without the `python` feature (the binary's config file shows them).
#[derive(Debug, Clone)]
pub struct PythonOptions {
    /// The interpreter to run workers with: a name looked up in `PATH` or a path.
    pub interpreter: PathBuf,
    /// Workers per plugin, so that many calls of one plugin run in parallel.
    pub pool_size: usize,
    /// How long a worker may take to start and import its plugin.
    pub start_timeout: Duration,
    /// How long `shutdown()` may take, and then how long the worker gets to exit.
    pub shutdown_grace: Duration,
    /// The longest response line accepted from a worker; a longer one kills it.
    pub max_line_bytes: usize,
    /// How much of a worker's stderr is kept for crash reports.
    pub stderr_tail_bytes: usize,
    /// Where the virtual environments of plugins with `requirements` are made; `None` is
    /// `$XDG_CACHE_HOME/codexcontinue/python-envs`, else `$HOME/.cache/codexcontinue/python-envs`.
    pub envs_dir: Option<PathBuf>,
    /// How long making one such environment (venv and pip) may take.
    pub install_timeout: Duration,
    /// Fork workers from one fork server per interpreter (Linux), sharing its pages;
    /// `false` spawns each worker as a fresh interpreter.
    pub fork_server: bool,
    /// Give a worker whose calls are fast (under a millisecond on average) its next call
    /// while it runs the current one, so it does not sleep between calls; `false` sends
    /// each worker one call at a time.
    pub pipeline: bool,
}

/// `$XDG_CACHE_HOME/codexcontinue/<name>`, else `$HOME/.cache/codexcontinue/<name>`.
#[cfg(any(feature = "python", feature = "wasm"))]
pub(crate) fn user_cache_dir(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("codexcontinue").join(name))
}

impl Default for PythonOptions {
    fn default() -> Self {
        PythonOptions {
            interpreter: PathBuf::from("python3"),
            pool_size: 1,
            start_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(2),
            max_line_bytes: 64 * 1024 * 1024,
            stderr_tail_bytes: 4096,
            envs_dir: None,
            install_timeout: Duration::from_secs(600),
            fork_server: true,
            pipeline: true,
        }
    }
}

/// How the Wasm runtime compiles and bounds modules when their manifest is silent.
///
/// Defined here rather than in [`crate::wasm`] so that its defaults are readable in
/// builds without the `wasm` feature.
#[derive(Debug, Clone)]
pub struct WasmOptions {
    /// Where compiled modules are kept across restarts; `None` is
    /// `$XDG_CACHE_HOME/codexcontinue/wasm`, else `$HOME/.cache/codexcontinue/wasm`.
    /// When the folder cannot be used, modules are compiled without a cache (and a warning
    /// is logged), which is slower but works.
    pub cache_dir: Option<PathBuf>,
    /// Linear memory cap of one instance, when the manifest's `[wasm]` has no `memory_limit_mb`.
    pub default_memory_limit_mb: u32,
    /// How long one call may run inside Wasm, when the manifest has no `timeout_ms`.
    /// The host's per-call deadline (which the config file may shorten) also stops a call.
    pub default_timeout: Duration,
    /// Instances kept per plugin for concurrent calls, when the manifest's `[wasm]` has no
    /// `pool_size`.
    pub default_pool_size: usize,
}

impl Default for WasmOptions {
    fn default() -> Self {
        WasmOptions {
            cache_dir: None,
            default_memory_limit_mb: 64,
            default_timeout: Duration::from_secs(30),
            default_pool_size: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(4),
        }
    }
}

impl WasmOptions {
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }
}

/// The aliases the original project shipped: Open Interpreter's names for `shell`,
/// and `test` for `echo`.
pub fn default_aliases() -> BTreeMap<String, String> {
    [("interpreter", "shell"), ("oi", "shell"), ("test", "echo")]
        .into_iter()
        .map(|(a, n)| (a.to_owned(), n.to_owned()))
        .collect()
}
