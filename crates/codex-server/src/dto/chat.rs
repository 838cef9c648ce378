//! Wire types of the chat routes (`/chat`, `/chat/stream`) and of the OpenAI-compatible
//! routes (`/v1/chat/completions`, `/v1/models`), with their OpenAPI schemas.
//!
//! The OpenAI bodies themselves are `codex_agent::openai` types passed through as they are;
//! their schemas here are open objects, since OpenAI's own specification defines them.

use codex_agent::chat::{ApprovalRequest, ModelStatus, Step, ToolProgress, TurnEvent, TurnReply};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /chat` and `POST /chat/stream`. Other fields are ignored, as the original project
/// did (its frontend sends `model`, `metadata` and `api_key`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatRequest {
    /// The user's message; `/run <plugin> <input>` calls the plugin directly.
    #[schema(example = "/run calculator 2*(3+4)")]
    pub message: String,
    /// Defaults to `default`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub session_id: Option<String>,
    /// Which of the model's tool calls wait for a person in this turn; defaults to the
    /// config's (`[model] approval`, itself `auto` by default).
    #[serde(default)]
    pub approval: Option<ApprovalModeParam>,
}

/// `auto`: each plugin's policy; `approve`: every tool call; `smart`: calls of plugins that
/// act (not only read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalModeParam {
    Auto,
    Approve,
    Smart,
}

impl From<ApprovalModeParam> for codex_plugin::ApprovalMode {
    fn from(mode: ApprovalModeParam) -> Self {
        match mode {
            ApprovalModeParam::Auto => Self::Auto,
            ApprovalModeParam::Approve => Self::Approve,
            ApprovalModeParam::Smart => Self::Smart,
        }
    }
}

/// A finished chat turn.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    pub reply: String,
    pub session_id: String,
    /// What the turn did, in order.
    pub steps: Vec<StepView>,
}

impl From<TurnReply> for ChatResponse {
    fn from(reply: TurnReply) -> Self {
        ChatResponse {
            reply: reply.reply,
            session_id: reply.session_id,
            steps: reply.steps.into_iter().map(StepView::from).collect(),
        }
    }
}

/// A plugin called as a tool (by the model, or by `/run`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolCallView {
    pub id: String,
    pub plugin: String,
    /// Any JSON value (a `/run` input may be a plain string).
    pub arguments: Value,
    /// The call's run id while it runs: `POST /api/executions/{run_id}/cancel` stops it.
    /// Absent for a call that never runs (an unknown tool, arguments that are not JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// A tool call's outcome: `output` when `ok`, `error` otherwise.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolResultView {
    pub id: String,
    pub plugin: String,
    pub ok: bool,
    /// Any JSON value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A running tool call's progress, as its plugin reported it. Not stored event by event:
/// the call's `plugin_execution` event keeps the last message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    /// The tool call's id, as in its `tool_call` event.
    pub id: String,
    pub run_id: String,
    pub plugin: String,
    /// 0.0 to 1.0, when the plugin said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<ToolProgress> for ProgressView {
    fn from(report: ToolProgress) -> Self {
        ProgressView {
            id: report.id,
            run_id: report.run_id,
            plugin: report.plugin,
            fraction: report.fraction,
            message: report.message,
        }
    }
}

/// A tool call waiting for a person: answer it with `POST /api/approvals/{approval_id}`.
/// Its `tool_result` follows the answer (a denial, or no answer by `expires_at`, is a
/// failed result the model reads).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalRequiredView {
    pub approval_id: String,
    /// The tool call's id, as in its `tool_call` event.
    pub id: String,
    pub plugin: String,
    /// The call's arguments: any JSON value.
    pub arguments: Value,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl From<ApprovalRequest> for ApprovalRequiredView {
    fn from(request: ApprovalRequest) -> Self {
        ApprovalRequiredView {
            approval_id: request.approval_id.to_string(),
            id: request.id,
            plugin: request.plugin,
            arguments: request.arguments,
            expires_at: request.expires_at,
        }
    }
}

/// Why a turn stopped (a step) or gave no reply (a stream's last event).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorView {
    /// The code an HTTP answer would carry (`step_limit` for a step).
    pub code: String,
    pub message: String,
}

/// One step of a turn, tagged by `type`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepView {
    ToolCall(ToolCallView),
    ToolResult(ToolResultView),
    /// The assistant's reply.
    Reply {
        text: String,
    },
    Error(ErrorView),
}

impl From<Step> for StepView {
    fn from(step: Step) -> Self {
        match step {
            Step::ToolCall {
                id,
                plugin,
                arguments,
                run_id,
            } => StepView::ToolCall(ToolCallView {
                id,
                plugin,
                arguments,
                run_id: (!run_id.is_empty()).then_some(run_id),
            }),
            Step::ToolResult {
                id,
                plugin,
                ok,
                output,
                error,
            } => StepView::ToolResult(ToolResultView {
                id,
                plugin,
                ok,
                output,
                error,
            }),
            Step::Reply { text } => StepView::Reply { text },
            Step::Error { code, message } => StepView::Error(ErrorView { code, message }),
        }
    }
}

/// One server-sent event of `POST /chat/stream`; the SSE event name is `event`, and the
/// data is this object. The stream ends after `done` or `error`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StreamEvent {
    /// Always the first event: the turn's id, for `POST /api/turns/{turn_id}/cancel`.
    Turn {
        turn_id: String,
    },
    /// A piece of the model's reply text, as it is generated.
    Delta {
        text: String,
    },
    ToolCall(ToolCallView),
    /// A running tool call's progress report.
    Progress(ProgressView),
    /// A tool call waits for a person's answer.
    ApprovalRequired(ApprovalRequiredView),
    ToolResult(ToolResultView),
    /// The finished turn, as `POST /chat` answers it.
    Done(ChatResponse),
    Error(ErrorView),
}

impl StreamEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Turn { .. } => "turn",
            StreamEvent::Delta { .. } => "delta",
            StreamEvent::ToolCall(_) => "tool_call",
            StreamEvent::Progress(_) => "progress",
            StreamEvent::ApprovalRequired(_) => "approval_required",
            StreamEvent::ToolResult(_) => "tool_result",
            StreamEvent::Done(_) => "done",
            StreamEvent::Error(_) => "error",
        }
    }
}

impl From<TurnEvent> for StreamEvent {
    fn from(event: TurnEvent) -> Self {
        match event {
            TurnEvent::Started { turn_id } => StreamEvent::Turn {
                turn_id: turn_id.to_string(),
            },
            TurnEvent::Delta(text) => StreamEvent::Delta { text },
            TurnEvent::Step(step) => match StepView::from(step) {
                StepView::ToolCall(call) => StreamEvent::ToolCall(call),
                StepView::ToolResult(result) => StreamEvent::ToolResult(result),
                // The loop streams only tool steps; a reply and a step-limit error reach
                // the client in `done`. Were one streamed, it would read as this.
                StepView::Reply { text } => StreamEvent::Delta { text },
                StepView::Error(error) => StreamEvent::Error(error),
            },
            TurnEvent::Progress(report) => StreamEvent::Progress(ProgressView::from(report)),
            TurnEvent::ApprovalRequired(request) => {
                StreamEvent::ApprovalRequired(ApprovalRequiredView::from(request))
            }
            TurnEvent::Done(reply) => StreamEvent::Done(ChatResponse::from(reply)),
        }
    }
}

/// The model chain chat uses, as `/health` reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelStatusView {
    /// False when no provider is configured: only `/run` is answered in chat.
    pub configured: bool,
    pub providers: Vec<ProviderView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub name: String,
    pub base_url: String,
    pub model: String,
}

impl From<ModelStatus> for ModelStatusView {
    fn from(status: ModelStatus) -> Self {
        ModelStatusView {
            configured: status.configured,
            providers: status
                .providers
                .into_iter()
                .map(|p| ProviderView {
                    name: p.name,
                    base_url: p.base_url,
                    model: p.model,
                })
                .collect(),
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
