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
        }
    }
}

/// Everything the host needs to know, already validated by the binary.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub plugins_dir: PathBuf,
    pub limits: Limits,
    /// alias → plugin name.
    pub aliases: BTreeMap<String, String>,
    pub plugins: BTreeMap<String, PluginSettings>,
    /// Watch the folder and reload on change.
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
            watch: false,
            init_timeout: Duration::from_secs(30),
            mcp_servers: BTreeMap::new(),
        }
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
