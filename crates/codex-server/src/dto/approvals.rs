//! `/api/approvals`: tool calls waiting for a person, and the answers to them.

use codex_agent::ApprovalInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One tool call waiting for an answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    /// The approval's id (`POST /api/approvals/{id}`).
    pub id: String,
    pub session_id: String,
    /// The chat turn that waits (`POST /api/turns/{id}/cancel` stops it).
    pub turn_id: String,
    /// The model's tool call id, as in the turn's `tool_call` event.
    pub call_id: String,
    pub plugin: String,
    /// The call's arguments: any JSON value.
    pub arguments: Value,
    /// The key whose turn asks; absent when no key was needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    /// No answer by then is a denial.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl From<ApprovalInfo> for ApprovalView {
    fn from(info: ApprovalInfo) -> Self {
        ApprovalView {
            id: info.id.to_string(),
            session_id: info.session_id,
            turn_id: info.turn_id.to_string(),
            call_id: info.call_id,
            plugin: info.plugin,
            arguments: info.arguments,
            actor: info.actor,
            requested_at: info.requested_at,
            expires_at: info.expires_at,
        }
    }
}

/// `GET /api/approvals`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalList {
    /// Oldest first.
    pub approvals: Vec<ApprovalView>,
}

/// `approve` runs the call; `deny` refuses it, and the model reads the refusal as the tool's
/// result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecisionParam {
    Approve,
    Deny,
}

/// `POST /api/approvals/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    pub decision: DecisionParam,
    /// The answer holds for this plugin for the rest of the session: its next calls there
    /// are not asked about.
    #[serde(default)]
    pub remember: bool,
}

/// The answered call.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerResponse {
    pub approval: ApprovalView,
    pub decision: DecisionParam,
    pub remember: bool,
    /// Who answered: the key's name; absent when no key was needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}
