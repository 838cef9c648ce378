//! The chat turn: `/run` dispatch, the model with plugins as tools, and the log of every step.
//!
//! A turn is one user message and everything it causes. `/run <plugin> <input>` (or
//! `run <plugin> <input>`) calls the plugin directly. Any other message goes to the model
//! chain with the system prompt, the session's short memory and the enabled plugins as
//! tools; tool calls run here, in parallel when the model asks for several, and their
//! results go back to the model until it answers without tools or `max_steps` model calls
//! were made. Every step is appended to the session's log, so the audit timeline shows the
//! whole turn and the next turn's short memory holds this one's messages.
//!
//! There is one loop (`tool_loop`) and one pump that streams its reports (`event`):
//! [`Chat::turn`] collects [`Chat::turn_stream`] (`turn`), and [`Chat::complete`] collects
//! [`Chat::complete_stream`] (`completion`, for `/v1/chat/completions`, where the client's
//! own tools are returned as `tool_calls` rather than run).

mod approval;
mod command;
mod completion;
mod config;
mod error;
mod event;
#[doc(hidden)]
pub mod fuzzing;
mod provider;
mod tool_loop;
mod turn;

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use codex_plugin::ApprovalMode;

pub use command::{Command, USAGE, parse as parse_command, parse_input, render};
pub use config::{
    ChatConfig, DEFAULT_APPROVAL_TIMEOUT_MS, DEFAULT_MAX_STEPS, DEFAULT_SYSTEM_PROMPT, ModelStatus,
    NO_MODEL_REPLY, ProviderStatus,
};
pub use error::ChatError;
pub use event::{ApprovalRequest, Step, ToolProgress, TurnEvent, TurnReply};
pub use provider::{
    ChunkStream, ProviderChain, ProviderConfig, ProviderError, ProviderFailure, describe_metrics,
};

use crate::Executor;
use crate::approvals::Approvals;
use crate::openai::{ChatCompletionRequest, ChatMessage};

/// Chat over the executor and the model chain. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
    /// The key every event this handle logs is recorded under ([`Chat::acting_as`]).
    actor: Option<Arc<str>>,
    /// The approval mode of this handle's turns; `None`: the config's ([`Chat::approving`]).
    mode: Option<ApprovalMode>,
}

/// A [`Chat`] that does not keep it alive (for the plugins the chat's own manager holds).
#[derive(Clone)]
pub struct WeakChat(Weak<Inner>);

impl WeakChat {
    pub fn upgrade(&self) -> Option<Chat> {
        self.0.upgrade().map(|inner| Chat {
            inner,
            actor: None,
            mode: None,
        })
    }
}

struct Inner {
    executor: Executor,
    chain: Option<ProviderChain>,
    config: ChatConfig,
    short_limit: usize,
    approvals: Approvals,
}

impl Chat {
    pub fn new(executor: Executor, config: ChatConfig, short_limit: usize) -> Chat {
        let chain = ProviderChain::new(&config.providers);
        Chat {
            inner: Arc::new(Inner {
                executor,
                chain,
                config,
                short_limit,
                approvals: Approvals::new(),
            }),
            actor: None,
            mode: None,
        }
    }

    /// This chat, recording every event it logs (messages, tool calls, runs, errors) as
    /// caused by the key named `actor`: the key of the request a turn answers.
    pub fn acting_as(&self, actor: Option<&str>) -> Chat {
        Chat {
            inner: Arc::clone(&self.inner),
            actor: actor.map(Arc::from),
            mode: self.mode,
        }
    }

    /// This chat, its turns deciding which tool calls wait for a person by `mode` (`None`:
    /// the config's).
    pub fn approving(&self, mode: Option<ApprovalMode>) -> Chat {
        Chat {
            mode: mode.or(self.mode),
            ..self.clone()
        }
    }

    /// The tool calls waiting for a person, to list and answer.
    pub fn approvals(&self) -> &Approvals {
        &self.inner.approvals
    }

    /// The key this handle's events are recorded under.
    pub fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    pub fn downgrade(&self) -> WeakChat {
        WeakChat(Arc::downgrade(&self.inner))
    }

    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    pub fn config(&self) -> &ChatConfig {
        &self.inner.config
    }

    pub fn model_status(&self) -> ModelStatus {
        ModelStatus::of(&self.inner.config)
    }

    /// The model ids of the chain, in order, without repeats.
    pub fn models(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.inner
            .config
            .providers
            .iter()
            .filter(|p| seen.insert(p.model.clone()))
            .map(|p| p.model.clone())
            .collect()
    }

    /// One prompt to the model chain, no tools, nothing logged (the `llm` plugin).
    pub async fn prompt(&self, system: Option<&str>, prompt: &str) -> Result<String, ChatError> {
        let chain = self.inner.chain.as_ref().ok_or(ChatError::NoModel)?;
        let mut messages = Vec::new();
        if let Some(system) = system {
            messages.push(ChatMessage::system(system));
        }
        messages.push(ChatMessage::user(prompt));
        let request = ChatCompletionRequest {
            messages,
            ..ChatCompletionRequest::default()
        };
        let (message, _) = tool_loop::call_model(chain, &request, None).await?;
        Ok(message.text_content())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_the_api_vocabulary() {
        assert_eq!(ChatError::NoModel.code(), "no_model");
        assert_eq!(ChatError::BadRequest("x".into()).code(), "invalid_request");
    }
}
