//! What a turn reports while it runs, and the one pump that turns the loop's reports into a
//! stream.
//!
//! These are domain types: the HTTP edge has its own wire types for them (with their
//! OpenAPI schemas), and the terminal chat prints them.

use std::future::Future;

use futures::Stream;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

/// One step of a turn. `Serialize` is for the `agent` plugin, whose result is its turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    ToolCall {
        id: String,
        plugin: String,
        arguments: Value,
        /// The call's run id while it runs (`POST /api/executions/{id}/cancel`); empty
        /// for a call that never ran (an unknown tool, arguments that are not JSON).
        #[serde(skip_serializing_if = "String::is_empty")]
        run_id: String,
    },
    ToolResult {
        id: String,
        plugin: String,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Reply {
        text: String,
    },
    Error {
        code: String,
        message: String,
    },
}

/// How far a running tool call has got, as its plugin reported it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolProgress {
    /// The tool call's id, as in its `ToolCall` step.
    pub id: String,
    pub run_id: String,
    pub plugin: String,
    /// 0.0 to 1.0, when the plugin said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A tool call that waits for a person's answer (`POST /api/approvals/{approval_id}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRequest {
    pub approval_id: Uuid,
    /// The tool call's id, as in its `ToolCall` step.
    pub id: String,
    pub plugin: String,
    pub arguments: Value,
    /// No answer by then is a denial.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The outcome of a turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnReply {
    pub reply: String,
    pub session_id: String,
    pub steps: Vec<Step>,
}

/// What a streamed turn reports, in order; the stream ends with `Done`, or with the
/// [`ChatError`](super::ChatError) that ended the turn.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnEvent {
    /// Always first: the turn's id, for `POST /api/turns/{id}/cancel`.
    Started {
        turn_id: Uuid,
    },
    /// A piece of the model's reply text.
    Delta(String),
    /// A tool call or a tool result, as it happens.
    Step(Step),
    /// A running tool call's progress report (not kept in the reply's steps).
    Progress(ToolProgress),
    /// A tool call waits for a person's answer; its `ToolResult` follows the answer.
    ApprovalRequired(ApprovalRequest),
    Done(TurnReply),
}

impl Step {
    /// The step's kind, as the stream and the wire name it.
    pub fn name(&self) -> &'static str {
        match self {
            Step::ToolCall { .. } => "tool_call",
            Step::ToolResult { .. } => "tool_result",
            Step::Reply { .. } => "reply",
            Step::Error { .. } => "error",
        }
    }
}

impl TurnEvent {
    /// The event's name on a stream: `turn`, `delta`, the step's kind, `progress`,
    /// `approval_required` or `done`.
    pub fn name(&self) -> &'static str {
        match self {
            TurnEvent::Started { .. } => "turn",
            TurnEvent::Delta(_) => "delta",
            TurnEvent::Step(step) => step.name(),
            TurnEvent::Progress(_) => "progress",
            TurnEvent::ApprovalRequired(_) => "approval_required",
            TurnEvent::Done(_) => "done",
        }
    }
}

/// Something the tool loop reports while it runs.
pub(super) enum Progress {
    Delta(String),
    Step(Step),
    Tool(ToolProgress),
    Approval(ApprovalRequest),
}

/// A progress sink for one tool call that reports on the loop's channel.
pub(super) fn tool_progress_sink(
    tx: &Sender,
    id: &str,
    run_id: &str,
    plugin: &str,
) -> codex_plugin::ProgressSink {
    let (tx, id, run_id, plugin) = (
        tx.clone(),
        id.to_owned(),
        run_id.to_owned(),
        plugin.to_owned(),
    );
    std::sync::Arc::new(move |report: codex_plugin::Progress| {
        let _ = tx.send(Progress::Tool(ToolProgress {
            id: id.clone(),
            run_id: run_id.clone(),
            plugin: plugin.clone(),
            fraction: report.fraction,
            message: report.message,
        }));
    })
}

/// Where the loop sends its reports.
pub(super) type Sender = mpsc::UnboundedSender<Progress>;

/// What [`pump`] yields: the reports of the work in order, then its output.
pub(super) enum Pumped<T> {
    Progress(Progress),
    Finished(T),
}

/// Drives `work` while it reports on a channel: every report is yielded as it arrives,
/// those still queued when the work ends are yielded after it, and the work's output
/// comes last. `work` is given the sending half.
pub(super) fn pump<T, F, W>(work: W) -> impl Stream<Item = Pumped<T>> + Send
where
    T: Send + 'static,
    F: Future<Output = T> + Send,
    W: FnOnce(Sender) -> F + Send,
{
    async_stream::stream! {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let work = work(tx);
        tokio::pin!(work);
        let output = loop {
            let next = tokio::select! {
                biased;
                Some(progress) = rx.recv() => Err(progress),
                output = &mut work => Ok(output),
            };
            match next {
                Err(progress) => yield Pumped::Progress(progress),
                Ok(output) => break output,
            }
        };
        while let Ok(progress) = rx.try_recv() {
            yield Pumped::Progress(progress);
        }
        yield Pumped::Finished(output);
    }
}
