//! Wire types of the running work: what `GET /api/running` lists and what a cancel answers.

use codex_agent::{RunInfo, RunKind};
use serde::Serialize;
use utoipa::ToSchema;

/// One execution or turn running on this server.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// The id to cancel it by.
    pub id: String,
    /// `execution` or `turn`.
    #[schema(example = "execution")]
    pub kind: &'static str,
    pub session_id: String,
    /// The plugin, for an execution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// RFC 3339.
    pub started_at: String,
}

impl From<RunInfo> for RunView {
    fn from(info: RunInfo) -> Self {
        RunView {
            id: info.id.to_string(),
            kind: match info.kind {
                RunKind::Execution => "execution",
                RunKind::Turn => "turn",
            },
            session_id: info.session_id,
            plugin: info.plugin,
            started_at: info.started_at.to_rfc3339(),
        }
    }
}

/// `GET /api/running`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Oldest first.
    pub runs: Vec<RunView>,
}

/// The answer to a cancel request: the run it reached. The run itself ends shortly after
/// with `cancelled`, on its own stream or response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelResponse {
    /// Always true: a run that could not be reached answers 404 `not_running`.
    pub cancelled: bool,
    pub run: RunView,
}
