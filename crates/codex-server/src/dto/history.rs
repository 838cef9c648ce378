//! Wire types of the listings across the store's history: `/api/executions`, `/api/sessions`
//! and `/api/sessions/{id}/events`.

use chrono::{DateTime, Utc};
use codex_store::{PluginLog, SessionSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::dto::memory::{EventView, PluginLogView, SessionView};

/// `GET /api/executions`: every filter is optional.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExecutionsQuery {
    /// The plugin's canonical name.
    pub plugin: Option<String>,
    /// `ok`, or an error code (`timeout`, `invalid_input`, `not_found`, ...).
    pub status: Option<String>,
    /// `api`, `cli`, `chat` or `mcp`.
    #[param(inline)]
    pub source: Option<SourceParam>,
    #[param(min_length = 1, max_length = 256)]
    pub session_id: Option<String>,
    /// Only the runs this key asked for (a key's name). A user key sees only its own runs
    /// across sessions, whatever it gives here.
    #[param(min_length = 1, max_length = 64)]
    pub actor: Option<String>,
    /// RFC 3339: only executions at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339: only executions before this instant.
    pub until: Option<DateTime<Utc>>,
    /// The previous page's `next_before`.
    pub before: Option<String>,
    /// Executions per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceParam {
    Api,
    Cli,
    Chat,
    Mcp,
}

impl From<SourceParam> for codex_store::ExecutionSource {
    fn from(source: SourceParam) -> Self {
        match source {
            SourceParam::Api => Self::Api,
            SourceParam::Cli => Self::Cli,
            SourceParam::Chat => Self::Chat,
            SourceParam::Mcp => Self::Mcp,
        }
    }
}

/// One logged plugin run, with its session.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionView {
    pub session_id: String,
    #[serde(flatten)]
    pub log: PluginLogView,
}

impl From<PluginLog> for ExecutionView {
    fn from(log: PluginLog) -> Self {
        ExecutionView {
            session_id: log.session_id.clone(),
            log: log.into(),
        }
    }
}

/// `GET /api/executions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionList {
    /// Newest first; with `session_id`, highest `seq` first.
    pub executions: Vec<ExecutionView>,
    /// The `before` of the next (older) page; `null` on the last one.
    pub next_before: Option<String>,
}

/// `GET /api/sessions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    /// Only sessions whose id or title contains this text, ignoring case.
    pub q: Option<String>,
    /// The previous page's `next_before`.
    pub before: Option<String>,
    /// Sessions per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
}

/// One session, with its title.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionEntry {
    #[serde(flatten)]
    pub session: SessionView,
    /// The first user message, cut to 100 characters; `null` before there is one.
    pub title: Option<String>,
}

impl From<SessionSummary> for SessionEntry {
    fn from(s: SessionSummary) -> Self {
        SessionEntry {
            title: s.title.clone(),
            session: s.into(),
        }
    }
}

/// `GET /api/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    /// Most recently active first.
    pub sessions: Vec<SessionEntry>,
    /// The `before` of the next page; `null` on the last one.
    pub next_before: Option<String>,
}

/// `GET /api/sessions/{id}/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a greater `seq`; pass the previous page's `next_after`.
    pub after: Option<i64>,
    /// Events per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// Comma-separated kinds to keep (`message`, `plugin_execution`, `tool_call`,
    /// `tool_result`, `reset`, `error`); every kind when absent.
    #[param(
        pattern = r"^\s*(message|plugin_execution|tool_call|tool_result|reset|error)\s*(,\s*(message|plugin_execution|tool_call|tool_result|reset|error)\s*)*$"
    )]
    pub kinds: Option<String>,
}

/// `GET /api/sessions/{id}/events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub session_id: String,
    /// In order of `seq`.
    pub events: Vec<EventView>,
    /// The `after` of the next page; `null` on the last one.
    pub next_after: Option<i64>,
}
