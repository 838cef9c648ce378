//! The `[model]` config of chat turns, and what `/health` says of it.

use codex_plugin::ApprovalMode;
use serde::{Deserialize, Serialize};

use super::provider::ProviderConfig;

/// The system prompt when config gives none.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are CodexContinue, an assistant for software \
developers. The tools you are offered are the plugins of this server: call one when it helps \
to answer, and answer directly and concisely otherwise.";

/// How many model calls one turn may make when config says nothing.
pub const DEFAULT_MAX_STEPS: usize = 8;

/// The reply to a chat message when no model is configured.
pub const NO_MODEL_REPLY: &str = "No language model is configured, so only plugin commands work \
here: try `/run echo hello` or `/run plugin_metadata`. To chat with a model, add an \
OpenAI-compatible provider to the config file:\n\n[[model.providers]]\nname = \"local\"\n\
base_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3.2\"\n\
# api_key_env = \"OPENAI_API_KEY\"\n\nand restart the server.";

/// The `[model]` config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// In order of preference; empty means no model.
    pub providers: Vec<ProviderConfig>,
    pub system_prompt: String,
    /// The most model calls one turn makes.
    pub max_steps: usize,
    /// Which of the model's tool calls wait for a person when a request does not say:
    /// `auto` (each plugin's policy), `approve` (every call) or `smart` (calls of plugins
    /// that act).
    pub approval: ApprovalMode,
    /// How long a tool call waits for its answer; no answer by then is a denial.
    pub approval_timeout_ms: u64,
}

/// How long a tool call waits for a person when config says nothing: five minutes.
pub const DEFAULT_APPROVAL_TIMEOUT_MS: u64 = 300_000;

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            providers: Vec::new(),
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_owned(),
            max_steps: DEFAULT_MAX_STEPS,
            approval: ApprovalMode::Auto,
            approval_timeout_ms: DEFAULT_APPROVAL_TIMEOUT_MS,
        }
    }
}

/// Whether a model is configured, and which providers make the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStatus {
    pub configured: bool,
    pub providers: Vec<ProviderStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    pub name: String,
    pub base_url: String,
    pub model: String,
}

impl ModelStatus {
    pub(super) fn of(config: &ChatConfig) -> ModelStatus {
        let providers: Vec<ProviderStatus> = config
            .providers
            .iter()
            .map(|p| ProviderStatus {
                name: p.name.clone(),
                base_url: p.base_url.clone(),
                model: p.model.clone(),
            })
            .collect();
        ModelStatus {
            configured: !providers.is_empty(),
            providers,
        }
    }
}
