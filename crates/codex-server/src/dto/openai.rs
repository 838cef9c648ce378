//! The schema of `POST /v1/chat/completions`' request body, for the OpenAPI document only.
//!
//! The route reads the body as `codex_agent::openai::ChatCompletionRequest`, which knows no
//! utoipa; these types describe what it accepts, field for field, so that a client (or a
//! generator of test requests) knows which bodies are valid. Any other field (`temperature`,
//! `max_tokens`, ...) is passed on to the model as it is.

#![allow(dead_code)]

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// OpenAI's chat-completions request, as far as CodexContinue reads it.
#[derive(Deserialize, ToSchema)]
pub struct CompletionRequestDoc {
    /// Ignored for routing: the configured providers' models answer.
    model: Option<String>,
    /// The conversation, oldest first; at least one message.
    #[schema(min_items = 1)]
    messages: Vec<MessageDoc>,
    /// The client's own tools: offered to the model, never run here.
    tools: Option<Vec<ToolDoc>>,
    /// Passed on as it is.
    tool_choice: Option<Value>,
    /// `true` for a `text/event-stream` of chunks.
    stream: Option<bool>,
    /// `{"include_usage": true}` adds a last chunk with the token counts.
    stream_options: Option<Value>,
    /// The session the turn is logged under when `X-Session-Id` names none.
    #[schema(max_length = 256)]
    user: Option<String>,
}

/// One message of the conversation.
#[derive(Deserialize, ToSchema)]
pub struct MessageDoc {
    /// `system`, `user`, `assistant` or `tool`.
    role: String,
    /// A string, an array of content parts, or `null` on an assistant message that only calls
    /// tools.
    content: Option<Value>,
    name: Option<String>,
    tool_calls: Option<Vec<ToolCallDoc>>,
    tool_call_id: Option<String>,
}

/// A tool the client offers.
#[derive(Deserialize, ToSchema)]
pub struct ToolDoc {
    /// `function`.
    #[serde(rename = "type")]
    kind: String,
    function: FunctionDoc,
}

#[derive(Deserialize, ToSchema)]
pub struct FunctionDoc {
    name: String,
    description: Option<String>,
    /// A JSON Schema of the arguments.
    parameters: Option<Value>,
}

/// A tool call an assistant message made.
#[derive(Deserialize, ToSchema)]
pub struct ToolCallDoc {
    id: String,
    /// `function`.
    #[serde(rename = "type")]
    kind: String,
    function: FunctionCallDoc,
}

#[derive(Deserialize, ToSchema)]
pub struct FunctionCallDoc {
    name: String,
    /// The arguments as JSON text.
    arguments: String,
}
