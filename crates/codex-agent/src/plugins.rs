//! The built-in plugins that need the model: `llm` (one prompt to the chain) and `agent`
//! (one tool-using chat turn).
//!
//! They live in the plugin manager, and the [`Chat`] they call holds that manager, so they
//! reach the chat through a [`ChatHandle`] filled in once the manager has started:
//! `let handle = ChatHandle::new(); builder.with_natives(model_plugins(&handle)); ...;
//! handle.set(&chat)`. The handle holds the chat weakly, so the cycle (chat → executor →
//! manager → `llm` → handle → chat) does not keep a dropped app alive.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use codex_host::NativePlugin;

use crate::chat::WeakChat;
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo};
use serde_json::{Value, json};

use crate::chat::{Chat, ChatError};

/// The plugins the `agent` plugin's turn does not offer as tools, so it never recurses.
pub const NOT_OFFERED_TO_AGENT: [&str; 2] = ["agent", "llm"];

/// The chat, once it exists, held weakly.
#[derive(Default)]
pub struct ChatHandle(OnceLock<WeakChat>);

impl ChatHandle {
    pub fn new() -> Arc<ChatHandle> {
        Arc::new(ChatHandle::default())
    }

    /// Fills the handle; `false` if it was already filled.
    pub fn set(&self, chat: &Chat) -> bool {
        self.0.set(chat.downgrade()).is_ok()
    }

    fn get(&self) -> codex_plugin::Result<Chat> {
        self.0
            .get()
            .and_then(WeakChat::upgrade)
            .ok_or_else(|| PluginError::failed("the chat is not running"))
    }
}

/// `llm` and `agent`, enabled by default, for `PluginManagerBuilder::with_natives`.
pub fn model_plugins(handle: &Arc<ChatHandle>) -> Vec<NativePlugin> {
    vec![
        NativePlugin {
            plugin: Arc::new(LlmPlugin::new(handle.clone())),
            enabled_by_default: true,
        },
        NativePlugin {
            plugin: Arc::new(AgentPlugin::new(handle.clone())),
            enabled_by_default: true,
        },
    ]
}

fn model_error(error: ChatError) -> PluginError {
    match error {
        // The server's configuration, not a failure: unavailable, saying what enables it.
        ChatError::NoModel => PluginError::Unavailable(
            "no language model is configured: add a [[model.providers]] entry to the config"
                .to_owned(),
        ),
        ChatError::BadRequest(message) => PluginError::invalid_input(message),
        other => PluginError::failed(other.to_string()),
    }
}

/// One prompt to the configured model chain, no tools.
pub struct LlmPlugin {
    info: PluginInfo,
    chat: Arc<ChatHandle>,
}

impl LlmPlugin {
    pub fn new(chat: Arc<ChatHandle>) -> Self {
        let info = PluginInfo::new("llm")
            .read_only()
            .with_description(
                "Sends one prompt to the configured language model (with provider fallback) \
                 and returns its answer.",
            )
            .with_category("ai")
            .with_example(json!({"prompt": "Summarise the plugin contract in one sentence."}))
            .with_input_schema(json!({
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "description": "What to ask the model."},
                    "system": {"type": "string", "description": "An optional system prompt."}
                },
                "required": ["prompt"]
            }));
        LlmPlugin { info, chat }
    }
}

#[async_trait]
impl Plugin for LlmPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, data: Value, _ctx: &ExecContext) -> codex_plugin::Result<Value> {
        let (prompt, system) = match &data {
            Value::String(prompt) => (prompt.clone(), None),
            Value::Object(map) => match map.get("prompt").and_then(Value::as_str) {
                Some(prompt) => (
                    prompt.to_owned(),
                    map.get("system").and_then(Value::as_str).map(str::to_owned),
                ),
                None => return Err(PluginError::invalid_input("`prompt` (a string) is missing")),
            },
            _ => {
                return Err(PluginError::invalid_input(
                    "give a prompt string or {\"prompt\", \"system\"?}",
                ));
            }
        };
        if prompt.trim().is_empty() {
            return Err(PluginError::invalid_input("the prompt is empty"));
        }
        let chat = self.chat.get()?;
        let answer = chat
            .prompt(system.as_deref(), &prompt)
            .await
            .map_err(model_error)?;
        Ok(json!({ "response": answer }))
    }
}

/// One tool-using chat turn in the caller's session.
pub struct AgentPlugin {
    info: PluginInfo,
    chat: Arc<ChatHandle>,
}

impl AgentPlugin {
    pub fn new(chat: Arc<ChatHandle>) -> Self {
        let info = PluginInfo::new("agent")
            .with_description(
                "Runs one chat turn with the configured model in the current session: the \
                 model may call the other plugins as tools. Returns the reply and the steps.",
            )
            .with_category("ai")
            .with_example(json!({"message": "What is 2*(3+4)? Use the calculator."}))
            .with_input_schema(json!({
                "type": "object",
                "properties": {
                    "message": {"type": "string", "description": "The user message of the turn."}
                },
                "required": ["message"]
            }));
        AgentPlugin { info, chat }
    }
}

#[async_trait]
impl Plugin for AgentPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, data: Value, ctx: &ExecContext) -> codex_plugin::Result<Value> {
        let message = match &data {
            Value::String(message) => message.clone(),
            Value::Object(map) => map
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| PluginError::invalid_input("`message` (a string) is missing"))?,
            _ => {
                return Err(PluginError::invalid_input(
                    "give a message string or {\"message\"}",
                ));
            }
        };
        if message.trim().is_empty() {
            return Err(PluginError::invalid_input("the message is empty"));
        }
        let chat = self.chat.get()?;
        let exclude = NOT_OFFERED_TO_AGENT.map(str::to_owned).to_vec();
        let turn = tokio::select! {
            turn = chat.turn_excluding(&ctx.session_id, &message, exclude) => turn.map_err(model_error)?,
            () = ctx.cancel.cancelled() => return Err(PluginError::Cancelled),
        };
        serde_json::to_value(&turn).map_err(|e| PluginError::failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every built-in's example must be an input its own schema accepts (the UI offers it in
    // the schema's form, models see both); codex-builtins checks its own, these are ours.
    #[test]
    fn the_model_plugins_examples_validate_against_their_schemas() {
        for native in model_plugins(&ChatHandle::new()) {
            let info = native.plugin.info();
            let example = info.example.as_ref().expect("an example");
            let validator = jsonschema::validator_for(&info.input_schema).expect("a schema");
            let errors: Vec<String> = validator
                .iter_errors(example)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{}: {}", info.name, errors.join("; "));
        }
    }
}
