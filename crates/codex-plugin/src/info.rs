//! Plugin metadata: what a plugin says about itself.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Which runtime a plugin lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Native,
    Wasm,
    Python,
    Mcp,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Native => "native",
            PluginKind::Wasm => "wasm",
            PluginKind::Python => "python",
            PluginKind::Mcp => "mcp",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The metadata of a plugin, as the original project's plugins declared it, plus a JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub author: String,
    #[serde(default = "default_category")]
    pub category: String,
    /// An example input, shown in the UI and docs.
    #[serde(default)]
    pub example: Option<Value>,
    /// JSON Schema of the accepted input. Defaults to "any JSON value".
    #[serde(default = "any_schema")]
    pub input_schema: Value,
    /// When the plugin last changed, as its author wrote it (the original's `updated_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The packages the plugin needs, as its author listed them (the original's
    /// `requirements`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<String>,
    /// The plugin only reads: it changes nothing outside itself (files, processes, services).
    /// The `smart` approval mode asks before every call of a plugin that does not say so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Source files beside the plugin's own that it loaded (a Python plugin's helper
    /// modules from its folder): a change to any of them reloads the plugin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub helpers: Vec<std::path::PathBuf>,
}

fn default_version() -> String {
    "0.1.0".to_owned()
}

fn default_category() -> String {
    "general".to_owned()
}

fn any_schema() -> Value {
    json!({})
}

impl PluginInfo {
    /// Metadata with defaults for everything but the name.
    pub fn new(name: impl Into<String>) -> Self {
        PluginInfo {
            name: name.into(),
            description: String::new(),
            version: default_version(),
            author: String::new(),
            category: default_category(),
            example: None,
            input_schema: any_schema(),
            updated_at: None,
            requirements: Vec::new(),
            read_only: false,
            helpers: Vec::new(),
        }
    }

    /// Declares that the plugin only reads ([`PluginInfo::read_only`]).
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    pub fn with_author(mut self, author: impl Into<String>) -> Self {
        self.author = author.into();
        self
    }

    pub fn with_category(mut self, category: impl Into<String>) -> Self {
        self.category = category.into();
        self
    }

    pub fn with_example(mut self, example: Value) -> Self {
        self.example = Some(example);
        self
    }

    pub fn with_input_schema(mut self, schema: Value) -> Self {
        self.input_schema = schema;
        self
    }

    pub fn with_updated_at(mut self, updated_at: impl Into<String>) -> Self {
        self.updated_at = Some(updated_at.into());
        self
    }

    pub fn with_requirements(mut self, requirements: Vec<String>) -> Self {
        self.requirements = requirements;
        self
    }
}
