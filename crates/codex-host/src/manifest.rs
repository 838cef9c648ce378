//! `<name>_plugin.toml`: metadata, limits, grants and config for a plugin file, or a
//! plugin of its own (an MCP server) when no other file shares its stem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    pub timeout_ms: Option<u64>,
    pub max_output_bytes: Option<usize>,
    pub max_concurrency: Option<usize>,
    /// Wasm: linear memory cap in MiB.
    pub memory_limit_mb: Option<u32>,
    /// Wasm: hosts the plugin may reach over HTTP; none unless listed.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Wasm: host path → guest path; nothing is mapped unless listed.
    #[serde(default)]
    pub allowed_paths: BTreeMap<String, PathBuf>,
    /// Python: the interpreter to run the worker with (a virtualenv's `bin/python`).
    pub interpreter: Option<PathBuf>,
    /// Python workers or Wasm instances kept for concurrent calls.
    pub pool_size: Option<usize>,
    /// Free-form configuration handed to the plugin.
    pub config: Option<Value>,
    /// With no plugin file beside the manifest: the MCP server `<name>` it declares.
    pub mcp: Option<McpServerConfig>,
}

impl Manifest {
    /// Reads and checks a manifest file; the error names the file and the bad key.
    pub fn load(path: &Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Manifest, String> {
        toml::from_str(text).map_err(|e| e.message().to_owned())
    }

    /// The manifest's limits and switches, as settings the config file may override.
    pub fn settings(&self) -> PluginSettings {
        PluginSettings {
            enabled: self.enabled,
            timeout_ms: self.timeout_ms,
            max_output_bytes: self.max_output_bytes,
            max_concurrency: self.max_concurrency,
            config: self.config.clone(),
        }
    }

    /// Lays the manifest's metadata over what the plugin said of itself.
    pub fn apply_metadata(&self, info: &mut codex_plugin::PluginInfo) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let err = Manifest::parse("descripton = \"x\"").unwrap_err();
        assert!(err.contains("descripton"), "{err}");
    }

    #[test]
    fn full_manifest_parses() {
        let m = Manifest::parse(
            r#"
            description = "Counts words"
            version = "1.2.0"
            timeout_ms = 500
            memory_limit_mb = 16
            allowed_hosts = ["example.com"]
            [allowed_paths]
            "/tmp/data" = "/data"
            [config]
            greeting = "hi"
            "#,
        )
        .unwrap();
        assert_eq!(m.timeout_ms, Some(500));
        assert_eq!(m.allowed_paths["/tmp/data"], PathBuf::from("/data"));
        assert_eq!(m.config.unwrap()["greeting"], "hi");
    }
}
