//! Wire types of the chat routes (`/chat`, `/chat/stream`) and of the OpenAI-compatible
//! routes (`/v1/chat/completions`, `/v1/models`), with their OpenAPI schemas.
//!
//! The OpenAI bodies themselves are `codex_agent::openai` types passed through as they are;
//! their schemas here are open objects, since OpenAI's own specification defines them.

use codex_agent::chat::{Step, TurnReply};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /chat` and `POST /chat/stream`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The user's message; `/run <plugin> <input>` calls the plugin directly.
    #[schema(example = "/run calculator 2*(3+4)")]
    pub message: String,
    /// Defaults to `default`.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// A finished chat turn.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    pub reply: String,
    pub session_id: String,
    /// What the turn did, in order: `{"type": "tool_call" | "tool_result" | "reply" | "error", ...}`.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Step>,
}

impl From<TurnReply> for ChatResponse {
    fn from(reply: TurnReply) -> Self {
        ChatResponse {
            reply: reply.reply,
            session_id: reply.session_id,
            steps: reply.steps,
        }
    }
}

/// `GET /v1/models`, as OpenAI answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// `list`.
    pub object: &'static str,
    pub data: Vec<ModelView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    /// The model id of a configured provider.
    pub id: String,
    /// `model`.
    pub object: &'static str,
    /// Unix time the server started.
    pub created: i64,
    /// `codexcontinue`.
    pub owned_by: &'static str,
}

/// OpenAI's error shape, used by every `/v1` route.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorBody {
    pub error: OpenAiErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorDetail {
    pub message: String,
    /// `invalid_request_error`, `server_error`, ...
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Always null: no single parameter is blamed.
    #[schema(value_type = Option<String>)]
    pub param: Option<Value>,
    /// Stable, machine-readable: `invalid_request`, `no_model`, `provider_error`, ...
    pub code: &'static str,
}
