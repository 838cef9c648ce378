//! Wire types of the plugin and system routes, with their OpenAPI schemas; those of the
//! memory and session routes are in [`memory`].

pub mod analytics;
pub mod approvals;
pub mod chat;
pub mod history;
pub mod keys;
pub mod memory;
pub mod openai;
pub mod original;
pub mod running;
pub mod sse;

use codex_host::{LoadError, PluginEntry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A plugin as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginView {
    pub name: String,
    pub description: String,
    pub version: String,
    pub author: String,
    pub category: String,
    /// An example input: any JSON value, often a string.
    pub example: Option<Value>,
    /// JSON Schema of the input.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// `native`, `wasm`, `python` or `mcp`.
    pub kind: String,
    pub enabled: bool,
    /// False for a plugin that is listed but cannot run here (a built-in whose model is not
    /// configured, say); its calls answer 503 `plugin_unavailable`.
    pub available: bool,
    /// Why it cannot run and what enables it; only when `available` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    pub aliases: Vec<String>,
    /// The file it was loaded from; absent for built-in plugins.
    pub source: Option<String>,
    pub limits: LimitsView,
    /// What a model's calls need: `allow`, `ask` (a person's answer) or `deny`.
    #[schema(value_type = PolicyParam)]
    pub policy: String,
    /// The plugin only reads; the `smart` approval mode asks before calls of the others.
    pub read_only: bool,
}

/// A plugin's approval policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyParam {
    Allow,
    Ask,
    Deny,
}

impl From<PolicyParam> for codex_plugin::Policy {
    fn from(policy: PolicyParam) -> Self {
        match policy {
            PolicyParam::Allow => Self::Allow,
            PolicyParam::Ask => Self::Ask,
            PolicyParam::Deny => Self::Deny,
        }
    }
}

/// `POST /api/plugins/{name}/policy`: `null` returns the plugin to its manifest's or config
/// file's policy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    pub policy: Option<PolicyParam>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsView {
    pub timeout_ms: u64,
    pub max_output_bytes: usize,
    pub max_concurrency: usize,
}

impl From<&PluginEntry> for PluginView {
    fn from(entry: &PluginEntry) -> Self {
        let info = &entry.info;
        let unavailable_reason = entry.unavailable_reason();
        PluginView {
            name: info.name.clone(),
            description: info.description.clone(),
            version: info.version.clone(),
            author: info.author.clone(),
            category: info.category.clone(),
            example: info.example.clone(),
            input_schema: info.input_schema.clone(),
            kind: entry.kind.to_string(),
            enabled: entry.is_enabled(),
            available: unavailable_reason.is_none(),
            unavailable_reason,
            aliases: entry.aliases.clone(),
            source: entry
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .or_else(|| entry.declared_in.clone()),
            limits: LimitsView {
                timeout_ms: entry.limits.timeout_ms,
                max_output_bytes: entry.limits.max_output_bytes,
                max_concurrency: entry.limits.max_concurrency,
            },
            policy: entry.policy().as_str().to_owned(),
            read_only: info.read_only,
        }
    }
}

/// A plugin file that failed to load.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoadErrorView {
    pub file: String,
    pub plugin: Option<String>,
    pub error: String,
}

impl From<LoadError> for LoadErrorView {
    fn from(e: LoadError) -> Self {
        LoadErrorView {
            file: e.file,
            plugin: e.plugin,
            error: e.error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PluginList {
    pub plugins: Vec<PluginView>,
    pub load_errors: Vec<LoadErrorView>,
}

/// `POST /api/plugins/execute`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// A plugin name or alias.
    #[schema(example = "calculator")]
    pub plugin: String,
    /// Any JSON value; a plain string always works.
    #[serde(default)]
    #[schema(example = "2*(3+4)")]
    pub data: Value,
    /// Defaults to `default`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub session_id: Option<String>,
    /// The run id to cancel this call by while it runs
    /// (`POST /api/executions/{run_id}/cancel`); the server picks one when absent.
    #[serde(default)]
    pub run_id: Option<uuid::Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecuteResponse {
    /// The canonical plugin name (an alias resolved).
    pub plugin: String,
    /// What the plugin answered: any JSON value.
    pub result: Value,
    /// Wall time of the call, in milliseconds.
    pub duration_ms: f64,
    /// The id of the `plugin_execution` event that logged the run.
    pub execution_id: String,
    pub session_id: String,
    /// The id the run was cancellable by while it ran.
    pub run_id: String,
}

/// One server-sent event of a streamed `POST /api/plugins/execute`
/// (`Accept: text/event-stream`); the SSE event name is `event`. The stream ends after
/// `result` or `error`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ExecuteStreamEvent {
    /// First: the run id to cancel the call by (`POST /api/executions/{run_id}/cancel`).
    Started { run_id: String },
    /// The plugin's progress report.
    Progress {
        /// 0.0 to 1.0, when the plugin said.
        #[serde(skip_serializing_if = "Option::is_none")]
        fraction: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The call's result, as the unstreamed call answers it.
    Result(ExecuteResponse),
    /// The call's failure, with the code and message an unstreamed call would answer.
    Error(crate::error::ErrorDetail),
}

impl ExecuteStreamEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            ExecuteStreamEvent::Started { .. } => "started",
            ExecuteStreamEvent::Progress { .. } => "progress",
            ExecuteStreamEvent::Result(_) => "result",
            ExecuteStreamEvent::Error(_) => "error",
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadResponse {
    pub plugins: usize,
    pub load_errors: Vec<LoadErrorView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolList {
    /// One per enabled plugin.
    pub tools: Vec<ToolView>,
}

/// A plugin as a model tool: OpenAI's function tool (`type`, `function`), with the name and
/// description also at the top level, where the original project's clients read them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolView {
    /// The tool name a model calls (the plugin name, sanitised to `[a-zA-Z0-9_-]{1,64}`).
    pub name: String,
    pub description: String,
    /// The plugin it runs.
    pub plugin: String,
    /// `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `{"name", "description", "parameters"}`, as OpenAI's chat completions take it.
    #[schema(value_type = Object)]
    pub function: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// `loading` while the plugins load in the background after start, then `ready`.
    #[schema(example = "ready")]
    pub plugins_state: &'static str,
    /// While `loading`: plugin files loaded so far, and to load in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins_loading: Option<LoadingView>,
    /// The server's clock, RFC 3339 in UTC.
    pub server_time: chrono::DateTime<chrono::Utc>,
    pub plugins: usize,
    pub load_errors: usize,
    pub uptime_s: u64,
    /// The model chain chat uses.
    pub model: chat::ModelStatusView,
    /// `{"backend": "sqlite"|"postgres", "commits", "requests", "events"}`: what this server's
    /// group-commit writer did since start; `events / commits` is the mean batch.
    #[schema(value_type = Object)]
    pub store: StoreHealth,
}

/// How far the background load of the plugins is.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoadingView {
    pub loaded: usize,
    pub total: usize,
}

/// The store's part of `/health`.
#[derive(Debug, Serialize)]
pub struct StoreHealth {
    pub backend: codex_store::BackendKind,
    #[serde(flatten)]
    pub stats: codex_store::CommitStats,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    pub name: &'static str,
    pub version: &'static str,
}
