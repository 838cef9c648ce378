//! Events: what a session's log holds, how new ones are built, and how stored ones read back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::{Result, StoreError};

/// Session ids longer than this are refused, so a request cannot bloat every index.
pub const MAX_SESSION_ID_LEN: usize = 256;

/// The kind of an event; stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A chat message (payload: [`MessagePayload`]).
    Message,
    /// One run of a plugin (payload: [`PluginExecution`]).
    PluginExecution,
    /// The model asked for a tool (payload: `call_id`, `name`, `arguments`).
    ToolCall,
    /// The answer to a tool call (payload: `call_id`, `name`, `output`, `is_error`).
    ToolResult,
    /// The short memory was cleared; the log keeps everything before it.
    Reset,
    /// Something failed in the session (payload: `code`, `message`).
    Error,
    /// A tool call that waited for a person: asked, then approved, denied or expired
    /// (payload: [`ApprovalPayload`]).
    Approval,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 7] = [
        EventKind::Message,
        EventKind::PluginExecution,
        EventKind::ToolCall,
        EventKind::ToolResult,
        EventKind::Reset,
        EventKind::Error,
        EventKind::Approval,
    ];

    /// The name stored in the database and shown on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::PluginExecution => "plugin_execution",
            EventKind::ToolCall => "tool_call",
            EventKind::ToolResult => "tool_result",
            EventKind::Reset => "reset",
            EventKind::Error => "error",
            EventKind::Approval => "approval",
        }
    }

    /// The kind with this stored name, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    System,
    Tool,
}

impl Role {
    /// The lowercase name used on the wire and in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Tool => "tool",
        }
    }
}

/// Where a plugin execution came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionSource {
    Api,
    Cli,
    Chat,
    Mcp,
}

impl ExecutionSource {
    /// Every source, in declaration order.
    pub const ALL: [ExecutionSource; 4] = [
        ExecutionSource::Api,
        ExecutionSource::Cli,
        ExecutionSource::Chat,
        ExecutionSource::Mcp,
    ];

    /// The name stored in payloads and shown on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionSource::Api => "api",
            ExecutionSource::Cli => "cli",
            ExecutionSource::Chat => "chat",
            ExecutionSource::Mcp => "mcp",
        }
    }

    /// The source with this name, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.as_str() == name)
    }

    /// Its place in [`ExecutionSource::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ExecutionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The payload of a [`EventKind::Message`] event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePayload {
    pub role: Role,
    pub content: String,
}

/// The payload of a [`EventKind::PluginExecution`] event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginExecution {
    /// The plugin's canonical name.
    pub plugin: String,
    /// The input as given.
    pub input: Value,
    /// The result, when the run succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The error message, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `"ok"`, or the error's stable code (`"plugin_timeout"`, `"invalid_input"`, ...: `PluginError::code`).
    pub status: String,
    pub duration_ms: u64,
    pub source: ExecutionSource,
    /// The name of the key that asked for the run; absent when no key was needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The last progress message the plugin reported while it ran, if it reported any.
    /// Progress itself is not stored report by report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
}

impl PluginExecution {
    /// A successful run.
    pub fn ok(
        plugin: impl Into<String>,
        input: Value,
        output: Value,
        duration_ms: u64,
        source: ExecutionSource,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            input,
            output: Some(output),
            error: None,
            status: "ok".to_owned(),
            duration_ms,
            source,
            actor: None,
            progress: None,
        }
    }

    /// A failed run; `code` is the error's stable machine code.
    pub fn failed(
        plugin: impl Into<String>,
        input: Value,
        code: impl Into<String>,
        message: impl Into<String>,
        duration_ms: u64,
        source: ExecutionSource,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            input,
            output: None,
            error: Some(message.into()),
            status: code.into(),
            duration_ms,
            source,
            actor: None,
            progress: None,
        }
    }

    /// Whether the run succeeded.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }

    /// The run with the last progress message its plugin reported.
    pub fn with_progress(mut self, progress: Option<String>) -> Self {
        self.progress = progress;
        self
    }
}

/// What the execution log, and the rollup behind the analytics, keep of a
/// [`EventKind::PluginExecution`] payload: read without copying the input and output.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub(crate) struct ExecutionFacts<'a> {
    pub plugin: &'a str,
    pub status: &'a str,
    pub source: ExecutionSource,
    pub duration_ms: u64,
    /// Only checked to be there, as [`PluginExecution`] needs it to read back.
    #[serde(rename = "input")]
    _input: serde::de::IgnoredAny,
}

impl<'a> ExecutionFacts<'a> {
    /// The facts of an execution payload, or why it is not one.
    pub(crate) fn of(payload: &'a Value) -> Result<Self> {
        Self::deserialize(payload).map_err(|err| {
            StoreError::InvalidEvent(format!(
                "a plugin execution needs a plugin, an input, a status, a duration and a source: {err}"
            ))
        })
    }

    /// Whether the run succeeded.
    pub(crate) fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// An event to append. Its id, sequence number and timestamp are given when it is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub session_id: String,
    pub kind: EventKind,
    pub payload: Value,
}

impl NewEvent {
    /// An event of any kind with a free-form payload.
    pub fn new(session_id: impl Into<String>, kind: EventKind, payload: Value) -> Self {
        Self {
            session_id: session_id.into(),
            kind,
            payload,
        }
    }

    /// A chat message.
    pub fn message(session_id: impl Into<String>, role: Role, content: impl Into<String>) -> Self {
        Self::new(
            session_id,
            EventKind::Message,
            json!({ "role": role, "content": content.into() }),
        )
    }

    /// One run of a plugin.
    pub fn plugin_execution(session_id: impl Into<String>, execution: &PluginExecution) -> Self {
        // A struct of strings, numbers and JSON values always serializes.
        let payload = serde_json::to_value(execution).unwrap_or(Value::Null);
        Self::new(session_id, EventKind::PluginExecution, payload)
    }

    /// The model asked for a tool.
    pub fn tool_call(
        session_id: impl Into<String>,
        call_id: impl Into<String>,
        name: impl Into<String>,
        arguments: Value,
    ) -> Self {
        Self::new(
            session_id,
            EventKind::ToolCall,
            json!({ "call_id": call_id.into(), "name": name.into(), "arguments": arguments }),
        )
    }

    /// The answer to a tool call.
    pub fn tool_result(
        session_id: impl Into<String>,
        call_id: impl Into<String>,
        name: impl Into<String>,
        output: Value,
        is_error: bool,
    ) -> Self {
        Self::new(
            session_id,
            EventKind::ToolResult,
            json!({
                "call_id": call_id.into(),
                "name": name.into(),
                "output": output,
                "is_error": is_error,
            }),
        )
    }

    /// Records who caused the event: the name of the key of the request (the actor), kept in
    /// the payload as `actor`. `None` leaves the event as it is.
    pub fn with_actor(mut self, actor: Option<&str>) -> Self {
        if let (Some(actor), Value::Object(payload)) = (actor, &mut self.payload) {
            payload.insert("actor".to_owned(), Value::from(actor));
        }
        self
    }

    /// A reset of the short memory.
    pub fn reset(session_id: impl Into<String>) -> Self {
        Self::new(session_id, EventKind::Reset, json!({}))
    }

    /// Something failed in the session.
    pub fn error(
        session_id: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            session_id,
            EventKind::Error,
            json!({ "code": code.into(), "message": message.into() }),
        )
    }

    /// A step of an approval: asked, approved, denied or expired.
    pub fn approval(session_id: impl Into<String>, approval: &ApprovalPayload) -> Self {
        // A struct of strings, UUIDs and JSON values always serializes.
        let payload = serde_json::to_value(approval).unwrap_or(Value::Null);
        Self::new(session_id, EventKind::Approval, payload)
    }

    /// Refuses what the schema would refuse, before the event reaches the writer, so one bad
    /// event never fails the other requests sharing its commit.
    pub(crate) fn validate(&self) -> Result<()> {
        validate_session_id(&self.session_id)?;
        match self.kind {
            EventKind::Message => {
                MessageFacts::of(&self.payload)?;
            }
            EventKind::PluginExecution => {
                ExecutionFacts::of(&self.payload)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The payload of an [`EventKind::Approval`] event: one step of a tool call that waited for
/// a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalPayload {
    /// The approval's id (`POST /api/approvals/{id}`).
    pub approval_id: Uuid,
    /// The model's tool call id.
    pub call_id: String,
    pub plugin: String,
    pub arguments: Value,
    /// `requested`, `approved`, `denied` or `expired`.
    pub state: String,
    /// Who answered: a key's name, `cli:<user>` at the terminal; absent for a request and an
    /// expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The answer holds for the rest of the session.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remember: bool,
}

/// A [`EventKind::Message`] payload, read without copying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct MessageFacts<'a> {
    pub role: Role,
    pub content: &'a str,
}

impl<'a> MessageFacts<'a> {
    /// The role and content of a message payload, or why it is not one.
    pub(crate) fn of(payload: &'a Value) -> Result<Self> {
        Self::deserialize(payload).map_err(|err| {
            StoreError::InvalidEvent(format!("a message needs a role and a content: {err}"))
        })
    }
}

/// Checks a session id: non-empty and at most [`MAX_SESSION_ID_LEN`] bytes.
pub fn validate_session_id(session_id: &str) -> Result<()> {
    if session_id.is_empty() {
        return Err(StoreError::InvalidEvent(
            "the session id is empty".to_owned(),
        ));
    }
    if session_id.len() > MAX_SESSION_ID_LEN {
        return Err(StoreError::InvalidEvent(format!(
            "the session id is longer than {MAX_SESSION_ID_LEN} bytes"
        )));
    }
    Ok(())
}

/// Where a committed event landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRef {
    /// Globally unique, time-ordered (UUID v7).
    pub id: Uuid,
    pub session_id: String,
    /// 1, 2, 3, ... within the session, without gaps.
    pub seq: i64,
    pub timestamp: DateTime<Utc>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: Uuid,
    pub session_id: String,
    pub seq: i64,
    pub kind: EventKind,
    pub timestamp: DateTime<Utc>,
    pub payload: Value,
}

impl Event {
    /// The name of the key whose request caused the event ([`NewEvent::with_actor`]).
    pub fn actor(&self) -> Option<&str> {
        self.payload.get("actor").and_then(Value::as_str)
    }
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: Uuid,
    pub seq: i64,
    pub timestamp: DateTime<Utc>,
    pub role: Role,
    pub content: String,
}

impl TryFrom<Event> for Message {
    type Error = StoreError;

    fn try_from(event: Event) -> Result<Self> {
        let MessagePayload { role, content } = serde_json::from_value(event.payload)
            .map_err(|err| StoreError::Corrupt(format!("message {}: {err}", event.id)))?;
        Ok(Self {
            id: event.id,
            seq: event.seq,
            timestamp: event.timestamp,
            role,
            content,
        })
    }
}

/// A stored plugin execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginLog {
    pub id: Uuid,
    pub session_id: String,
    pub seq: i64,
    pub timestamp: DateTime<Utc>,
    #[serde(flatten)]
    pub execution: PluginExecution,
}

impl TryFrom<Event> for PluginLog {
    type Error = StoreError;

    fn try_from(event: Event) -> Result<Self> {
        let execution = serde_json::from_value(event.payload)
            .map_err(|err| StoreError::Corrupt(format!("plugin execution {}: {err}", event.id)))?;
        Ok(Self {
            id: event.id,
            session_id: event.session_id,
            seq: event.seq,
            timestamp: event.timestamp,
            execution,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(Value::from(kind.as_str()))
            );
        }
        assert_eq!(EventKind::parse("nonsense"), None);
    }

    #[test]
    fn message_constructor_writes_role_and_content() {
        let event = NewEvent::message("s", Role::Assistant, "hi");
        assert_eq!(event.kind, EventKind::Message);
        assert_eq!(
            event.payload,
            json!({ "role": "assistant", "content": "hi" })
        );
        assert!(event.validate().is_ok());
    }

    #[test]
    fn plugin_execution_payload_reads_back() {
        let run = PluginExecution::failed(
            "calculator",
            json!("1/0"),
            "invalid_input",
            "division by zero",
            3,
            ExecutionSource::Cli,
        );
        let event = NewEvent::plugin_execution("s", &run);
        assert_eq!(event.payload["status"], "invalid_input");
        assert_eq!(event.payload["source"], "cli");
        assert!(event.payload.get("output").is_none());
        let back: PluginExecution = serde_json::from_value(event.payload).unwrap();
        assert_eq!(back, run);
        assert!(!back.is_ok());
    }

    #[test]
    fn session_ids_are_checked() {
        assert!(validate_session_id("default").is_ok());
        assert!(matches!(
            validate_session_id(""),
            Err(StoreError::InvalidEvent(_))
        ));
        let long = "x".repeat(MAX_SESSION_ID_LEN + 1);
        assert!(matches!(
            validate_session_id(&long),
            Err(StoreError::InvalidEvent(_))
        ));
    }

    #[test]
    fn a_message_without_content_is_refused() {
        let event = NewEvent::new("s", EventKind::Message, json!({ "role": "user" }));
        assert!(matches!(event.validate(), Err(StoreError::InvalidEvent(_))));
        let event = NewEvent::new(
            "s",
            EventKind::Message,
            json!({ "role": "robot", "content": "" }),
        );
        assert!(matches!(event.validate(), Err(StoreError::InvalidEvent(_))));
    }
}
