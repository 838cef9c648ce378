//! `<name>_plugin.toml`: metadata, limits, grants and config for a plugin file, or a
//! plugin of its own (an MCP server) when no other file shares its stem.
//!
//! The top level holds what every kind understands (metadata, limits, `enabled`,
//! `[config]`); what only one kind understands lives in that kind's table: `[wasm]`,
//! `[python]`, `[mcp]`. A kind's table beside a file of another kind is an error that says
//! so, and the flat keys of older manifests are errors that say where they moved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use codex_plugin::PluginKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::PluginSettings;
use crate::mcp::McpServerConfig;

/// The parsed manifest. Unknown keys are errors that name the key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub description: Option<String>,
    pub version: Option<String>,
    pub author: Option<String>,
    pub category: Option<String>,
    pub example: Option<Value>,
    /// JSON Schema of the input.
    pub input_schema: Option<Value>,
    pub enabled: Option<bool>,
    /// `allow`, `ask` or `deny`: what a model's calls of the plugin need.
    pub policy: Option<codex_plugin::Policy>,
    /// The plugin only reads (the `smart` approval mode asks before calls of the others).
    pub read_only: Option<bool>,
    pub timeout_ms: Option<u64>,
    pub max_output_bytes: Option<usize>,
    pub max_concurrency: Option<usize>,
    /// Free-form configuration handed to the plugin.
    pub config: Option<Value>,
    /// `[wasm]`: what only a `.wasm` plugin understands.
    pub wasm: Option<WasmManifest>,
    /// `[python]`: what only a `.py` plugin understands.
    pub python: Option<PythonManifest>,
    /// `[mcp]`: with no plugin file beside the manifest, the MCP server `<name>` it declares.
    pub mcp: Option<McpServerConfig>,
}

/// `[wasm]`: the sandbox of a Wasm plugin. Nothing is granted unless listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmManifest {
    /// Linear memory cap of one instance, in MiB.
    pub memory_limit_mb: Option<u32>,
    /// Hosts the plugin may reach over HTTP; none unless listed.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Host path → guest path; nothing is mapped unless listed.
    #[serde(default)]
    pub allowed_paths: BTreeMap<String, PathBuf>,
    /// Instances kept for concurrent calls.
    pub pool_size: Option<usize>,
}

/// `[python]`: how a Python plugin's workers run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonManifest {
    /// The interpreter to run the worker with (a virtualenv's `bin/python`).
    pub interpreter: Option<PathBuf>,
    /// Worker processes kept for concurrent calls.
    pub pool_size: Option<usize>,
    /// Packages the plugin needs, as pip specifiers (`requests>=2`): installed once into a
    /// virtual environment of the plugin's own, whose Python its workers then run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<String>,
}

static NO_WASM: WasmManifest = WasmManifest {
    memory_limit_mb: None,
    allowed_hosts: Vec::new(),
    allowed_paths: BTreeMap::new(),
    pool_size: None,
};

static NO_PYTHON: PythonManifest = PythonManifest {
    interpreter: None,
    pool_size: None,
    requirements: Vec::new(),
};

/// Keys older manifests had at the top level, and the tables they moved to.
const MOVED: &[(&str, &str)] = &[
    ("memory_limit_mb", "a [wasm] table"),
    ("allowed_hosts", "a [wasm] table"),
    ("allowed_paths", "a [wasm] table"),
    ("interpreter", "a [python] table"),
    (
        "pool_size",
        "a [python] table (Python plugins) or a [wasm] table (Wasm plugins)",
    ),
];

/// The keys each table of a manifest knows (a unit test holds them to the structs).
const TOP_KEYS: &[&str] = &[
    "description",
    "version",
    "author",
    "category",
    "example",
    "input_schema",
    "enabled",
    "policy",
    "read_only",
    "timeout_ms",
    "max_output_bytes",
    "max_concurrency",
    "config",
    "wasm",
    "python",
    "mcp",
];
const WASM_KEYS: &[&str] = &[
    "memory_limit_mb",
    "allowed_hosts",
    "allowed_paths",
    "pool_size",
];
const PYTHON_KEYS: &[&str] = &["interpreter", "pool_size", "requirements"];
const MCP_KEYS: &[&str] = &[
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "headers",
    "enabled",
    "timeout_ms",
    "tools",
];

/// Every key of `table` (at `prefix`) that `known` lacks, each with the known key it most
/// likely misspells.
fn unknown_keys(table: &toml::Table, prefix: &str, known: &[&str], out: &mut Vec<String>) {
    for key in table.keys() {
        if known.contains(&key.as_str())
            || MOVED.iter().any(|(moved, _)| moved == key) && prefix.is_empty()
        {
            continue;
        }
        let guess = known
            .iter()
            .map(|candidate| (strsim::jaro_winkler(key, candidate), *candidate))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, candidate)| format!(" (did you mean `{prefix}{candidate}`?)"))
            .unwrap_or_default();
        out.push(format!("unknown key `{prefix}{key}`{guess}"));
    }
}

impl Manifest {
    /// Reads and checks a manifest file; the error names the file and the bad key.
    pub fn load(path: &Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Manifest, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let moved: Vec<String> = MOVED
            .iter()
            .filter(|(key, _)| table.contains_key(*key))
            .map(|(key, to)| format!("`{key}` is no longer a top-level key: move {key} into {to}"))
            .collect();
        if !moved.is_empty() {
            return Err(moved.join("; "));
        }
        // Every misspelt key at once, each with a guess, rather than the first alone.
        let mut unknown = Vec::new();
        unknown_keys(&table, "", TOP_KEYS, &mut unknown);
        for (name, known) in [
            ("wasm", WASM_KEYS),
            ("python", PYTHON_KEYS),
            ("mcp", MCP_KEYS),
        ] {
            if let Some(toml::Value::Table(inner)) = table.get(name) {
                unknown_keys(inner, &format!("{name}."), known, &mut unknown);
            }
        }
        if !unknown.is_empty() {
            return Err(unknown.join("; "));
        }
        table.try_into().map_err(|e| e.message().to_owned())
    }

    /// Fails when the manifest has a table that means nothing for a plugin of `kind`
    /// (`[wasm]` beside a `.py` file, `[python]` in an MCP server's manifest).
    pub fn check_kind(&self, kind: PluginKind) -> Result<(), String> {
        let tables = [
            (PluginKind::Wasm, "wasm", self.wasm.is_some()),
            (PluginKind::Python, "python", self.python.is_some()),
            (PluginKind::Mcp, "mcp", self.mcp.is_some()),
        ];
        let wrong: Vec<String> = tables
            .iter()
            .filter(|(owner, _, present)| *present && *owner != kind)
            .map(|(owner, table, _)| {
                format!(
                    "[{table}] means nothing for {}: it is read only for {}",
                    describe(kind),
                    describe(*owner)
                )
            })
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    }

    /// The `[wasm]` table, empty when absent.
    pub fn wasm(&self) -> &WasmManifest {
        self.wasm.as_ref().unwrap_or(&NO_WASM)
    }

    /// The `[python]` table, empty when absent.
    pub fn python(&self) -> &PythonManifest {
        self.python.as_ref().unwrap_or(&NO_PYTHON)
    }

    /// The manifest's limits and switches, as settings the config file may override.
    pub fn settings(&self) -> PluginSettings {
        PluginSettings {
            enabled: self.enabled,
            timeout_ms: self.timeout_ms,
            max_output_bytes: self.max_output_bytes,
            max_concurrency: self.max_concurrency,
            config: self.config.clone(),
            // Which plugin takes a shared name is the config file's choice, not the file's.
            prefer: None,
            policy: self.policy,
        }
    }

    /// Lays the manifest's metadata over what the plugin said of itself.
    pub fn apply_metadata(&self, info: &mut codex_plugin::PluginInfo) {
        if let Some(read_only) = self.read_only {
            info.read_only = read_only;
        }
        if let Some(v) = &self.description {
            info.description = v.clone();
        }
        if let Some(v) = &self.version {
            info.version = v.clone();
        }
        if let Some(v) = &self.author {
            info.author = v.clone();
        }
        if let Some(v) = &self.category {
            info.category = v.clone();
        }
        if let Some(v) = &self.example {
            info.example = Some(v.clone());
        }
        if let Some(v) = &self.input_schema {
            info.input_schema = v.clone();
        }
    }
}

/// What a manifest of `kind` stands beside, for messages.
fn describe(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Wasm => "a Wasm plugin (a .wasm file)",
        PluginKind::Python => "a Python plugin (a .py file)",
        PluginKind::Mcp => "an MCP server's manifest (no plugin file beside it)",
        PluginKind::Native => "a built-in plugin",
    }
}

#[cfg(test)]
mod tests;
