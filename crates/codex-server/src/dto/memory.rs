//! Wire types of the memory, audit, session and plugin-log routes.

use chrono::{DateTime, Utc};
use codex_store::{Counts, Event, Message, PluginLog, SessionSummary};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The session a request is about when it names none.
pub const DEFAULT_SESSION: &str = "default";

/// Events or logs per page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;

/// `GET /memory` and `DELETE /memory`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MemoryQuery {
    /// Defaults to `default`.
    #[param(min_length = 1, max_length = 256)]
    pub session_id: Option<String>,
    /// `short` (default): the last messages since the last reset; `long`: every message.
    pub mode: Option<MemoryMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemoryMode {
    #[default]
    Short,
    #[serde(alias = "full")]
    Long,
}

/// `DELETE /memory`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Defaults to `default`.
    #[param(min_length = 1, max_length = 256)]
    pub session_id: Option<String>,
}

/// `after` and `limit` of a paginated listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Only entries with a greater `seq`; pass the previous page's `next_after`.
    pub after: Option<i64>,
    /// Entries per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// Only the events this key caused (a key's name). A page then holds the matching events
    /// of `limit` events read, possibly fewer: `next_after` still continues.
    #[param(min_length = 1, max_length = 64)]
    pub actor: Option<String>,
}

/// A stored chat message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    pub seq: i64,
    pub timestamp: DateTime<Utc>,
    /// `user`, `assistant`, `system` or `tool`.
    pub role: String,
    pub content: String,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            id: m.id,
            seq: m.seq,
            timestamp: m.timestamp,
            role: m.role.as_str().to_owned(),
            content: m.content,
        }
    }
}

/// Message counts, as the original project returned them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsView {
    /// Messages in the short memory.
    pub short: u64,
    /// Every message of the session.
    pub full: u64,
}

impl From<Counts> for CountsView {
    fn from(c: Counts) -> Self {
        CountsView {
            short: c.short,
            full: c.full,
        }
    }
}

/// `GET /memory`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemoryResponse {
    pub session_id: String,
    pub mode: MemoryMode,
    /// Oldest first.
    pub messages: Vec<MessageView>,
    pub counts: CountsView,
}

/// `DELETE /memory`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetResponse {
    pub session_id: String,
    /// What happened, in words (the original project's clients show it).
    pub message: String,
    /// The `seq` of the reset event in the audit timeline; `null` when the session does not
    /// exist, so there was nothing to reset and nothing was stored.
    pub seq: Option<i64>,
    /// When the reset was committed; `null` with `seq`.
    pub timestamp: Option<DateTime<Utc>>,
}

/// One event of the audit timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    /// 1, 2, 3, ... within the session, without gaps.
    pub seq: i64,
    /// `message`, `plugin_execution`, `tool_call`, `tool_result`, `reset` or `error`.
    pub kind: String,
    pub timestamp: DateTime<Utc>,
    /// The name of the key whose request caused the event (the payload's `actor`); absent
    /// when no key was needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Value,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            id: e.id,
            seq: e.seq,
            kind: e.kind.as_str().to_owned(),
            timestamp: e.timestamp,
            actor: e.actor().map(str::to_owned),
            payload: e.payload,
        }
    }
}

/// `GET /memory/audit/{session_id}`: the original project's memory audit (`short`, `full`,
/// `count`) beside a page of the whole event timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResponse {
    pub session_id: String,
    /// The short memory, oldest first.
    pub short: Vec<MessageView>,
    /// Every message of the session, oldest first.
    pub full: Vec<MessageView>,
    /// How many messages `short` and `full` hold, as the original named it.
    pub count: CountsView,
    /// A page of every event, in order of `seq`.
    pub events: Vec<EventView>,
    /// The `after` of the next page; absent on the last page.
    pub next_after: Option<i64>,
    pub counts: CountsView,
}

/// One session, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub message_count: u64,
}

impl From<SessionSummary> for SessionView {
    fn from(s: SessionSummary) -> Self {
        SessionView {
            id: s.id,
            created_at: s.created_at,
            last_activity: s.last_activity,
            message_count: s.message_count,
        }
    }
}

/// `DELETE /sessions/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurgeResponse {
    pub session_id: String,
    /// Events removed for good (0 for an unknown session).
    pub deleted_events: u64,
}

/// One logged plugin run.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginLogView {
    /// The `execution_id` the execute route answered.
    pub id: Uuid,
    pub seq: i64,
    pub timestamp: DateTime<Utc>,
    pub plugin: String,
    /// The input as given: any JSON value.
    pub input: Value,
    /// The result, when the run succeeded: any JSON value.
    pub output: Option<Value>,
    /// The error message, when it failed.
    pub error: Option<String>,
    /// `ok`, or the error's code (`plugin_not_found`, `invalid_input`, `plugin_timeout`, ...).
    pub status: String,
    pub duration_ms: u64,
    /// `api`, `cli`, `chat` or `mcp`.
    pub source: String,
    /// The name of the key that asked for the run; absent when no key was needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The run in words, where the original project's clients read it: the error when it
    /// failed, else how long it took.
    pub log_message: String,
}

impl From<PluginLog> for PluginLogView {
    fn from(log: PluginLog) -> Self {
        let e = log.execution;
        let source = serde_json::to_value(e.source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let log_message = match &e.error {
            Some(error) => format!("{} failed ({}): {error}", e.plugin, e.status),
            None => format!("{} ran in {} ms", e.plugin, e.duration_ms),
        };
        PluginLogView {
            log_message,
            id: log.id,
            seq: log.seq,
            timestamp: log.timestamp,
            plugin: e.plugin,
            input: e.input,
            output: e.output,
            error: e.error,
            status: e.status,
            duration_ms: e.duration_ms,
            source,
            actor: e.actor,
        }
    }
}

/// `GET /plugin-logs/{session_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginLogList {
    pub session_id: String,
    /// Newest first.
    pub logs: Vec<PluginLogView>,
    /// The `before` of the next (older) page; absent on the last page.
    pub next_before: Option<String>,
}

/// A page of a newest-first listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogPageQuery {
    /// The previous page's `next_before`.
    pub before: Option<String>,
    /// Entries per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// Only the runs this key asked for (a key's name).
    #[param(min_length = 1, max_length = 64)]
    pub actor: Option<String>,
}
