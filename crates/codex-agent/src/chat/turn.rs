//! The `/chat` turn: `/run` dispatch or the model's tool loop, with every step logged.

use codex_host::ExecutionRequest;
use codex_plugin::PluginError;
use codex_store::{ExecutionSource, NewEvent, Role};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Map;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::command::{self, Command, USAGE, render};
use super::config::NO_MODEL_REPLY;
use super::event::{
    Progress, Pumped, Sender, Step, TurnEvent, TurnReply, pump, tool_progress_sink,
};
use super::tool_loop::{LoopEnd, LoopInput};
use super::{Chat, ChatError};
use crate::ExecuteError;
use crate::openai::ChatMessage;
use crate::running::{RunInfo, RunKind};

impl Chat {
    /// One turn, collected.
    pub async fn turn(&self, session_id: &str, message: &str) -> Result<TurnReply, ChatError> {
        self.turn_excluding(session_id, message, Vec::new()).await
    }

    /// One turn whose tools leave out the plugins `exclude` (the `agent` plugin's turn must
    /// not offer itself).
    pub async fn turn_excluding(
        &self,
        session_id: &str,
        message: &str,
        exclude: Vec<String>,
    ) -> Result<TurnReply, ChatError> {
        let mut events = self.events(session_id.to_owned(), message.to_owned(), exclude);
        while let Some(event) = events.next().await {
            if let TurnEvent::Done(reply) = event? {
                return Ok(reply);
            }
        }
        Err(ChatError::Provider {
            failures: Vec::new(),
        })
    }

    /// One turn as it happens: deltas, tool calls and results, then `Done`, or the error
    /// that ended the turn as the last item.
    pub fn turn_stream(
        &self,
        session_id: String,
        message: String,
    ) -> BoxStream<'static, Result<TurnEvent, ChatError>> {
        self.events(session_id, message, Vec::new())
    }

    /// [`Chat::turn_stream`] whose tools leave out the plugins `exclude` (those a caller's
    /// key is not granted, for instance).
    pub fn turn_stream_excluding(
        &self,
        session_id: String,
        message: String,
        exclude: Vec<String>,
    ) -> BoxStream<'static, Result<TurnEvent, ChatError>> {
        self.events(session_id, message, exclude)
    }

    /// The turn runs in a task of its own, registered under its id while it runs, so that a
    /// cancel request reaches it and a client dropping the stream cancels it (the task then
    /// ends the turn as cancelled and logs that) instead of dropping it half-logged.
    fn events(
        &self,
        session_id: String,
        message: String,
        exclude: Vec<String>,
    ) -> BoxStream<'static, Result<TurnEvent, ChatError>> {
        let turn_id = Uuid::now_v7();
        let cancel = CancellationToken::new();
        let registration = self.inner.executor.running().register(
            RunInfo {
                id: turn_id,
                kind: RunKind::Turn,
                session_id: session_id.clone(),
                plugin: None,
                started_at: chrono::Utc::now(),
            },
            cancel.clone(),
        );
        let (out, mut events) = mpsc::unbounded_channel();
        let chat = self.clone();
        let session = session_id.clone();
        let work_cancel = cancel.clone();
        let pumped = pump(move |tx| {
            chat.clone()
                .run_turn(session, message, exclude, tx, work_cancel, turn_id)
        });
        let chat = self.clone();
        // The turn outlives this call, so it takes the request's trace and span along.
        let turn = codex_plugin::trace::carried(async move {
            let _registration = registration;
            futures::pin_mut!(pumped);
            // Sends fail once the client is gone; the turn still runs to its (cancelled)
            // end so that its log is complete.
            while let Some(item) = pumped.next().await {
                let event = match item {
                    Pumped::Progress(Progress::Delta(text)) => Ok(TurnEvent::Delta(text)),
                    Pumped::Progress(Progress::Step(step)) => Ok(TurnEvent::Step(step)),
                    Pumped::Progress(Progress::Tool(report)) => Ok(TurnEvent::Progress(report)),
                    Pumped::Progress(Progress::Approval(request)) => {
                        Ok(TurnEvent::ApprovalRequired(request))
                    }
                    Pumped::Finished(Ok(reply)) => Ok(TurnEvent::Done(reply)),
                    Pumped::Finished(Err(error)) => {
                        chat.log_error(&session_id, &error).await;
                        Err(error)
                    }
                };
                let _ = out.send(event);
            }
        });
        tokio::spawn(tracing::Instrument::in_current_span(turn));
        async_stream::stream! {
            let _cancel_when_dropped = cancel.drop_guard();
            yield Ok(TurnEvent::Started { turn_id });
            while let Some(event) = events.recv().await {
                yield event;
            }
        }
        .boxed()
    }

    async fn run_turn(
        self,
        session_id: String,
        message: String,
        exclude: Vec<String>,
        tx: Sender,
        cancel: CancellationToken,
        turn_id: Uuid,
    ) -> Result<TurnReply, ChatError> {
        codex_store::validate_session_id(&session_id).map_err(ChatError::InvalidSession)?;
        if let Some(command) = command::parse(&message) {
            return self
                .run_command(session_id, &message, command, &tx, &cancel)
                .await;
        }
        let store = self.inner.executor.store();
        let memory = store
            .short_memory(&session_id, self.inner.short_limit)
            .await
            .map_err(ChatError::Store)?;
        self.append(NewEvent::message(&session_id, Role::User, &message))
            .await?;
        if self.inner.chain.is_none() {
            return self
                .reply(session_id, NO_MODEL_REPLY.to_owned(), Vec::new())
                .await;
        }
        let mut messages = vec![ChatMessage::system(&self.inner.config.system_prompt)];
        messages.extend(
            memory
                .into_iter()
                .filter(|m| m.role != Role::Tool)
                .map(|m| ChatMessage::text(m.role.as_str(), m.content)),
        );
        messages.push(ChatMessage::user(&message));
        let outcome = self
            .run_loop(
                LoopInput {
                    session_id: session_id.clone(),
                    messages,
                    exclude,
                    client_tools: Vec::new(),
                    tool_choice: None,
                    extra: Map::new(),
                    stream: true,
                    cancel,
                    turn_id,
                    hand_off_approvals: false,
                    first_event: None,
                },
                &tx,
            )
            .await?;
        let reply = match outcome.end {
            LoopEnd::Reply(text) | LoopEnd::StepLimit(text) => text,
            LoopEnd::ClientCalls(message) => message.text_content(),
        };
        Ok(TurnReply {
            reply,
            session_id,
            steps: outcome.steps,
        })
    }

    /// `/run`: the plugin's result (or failure) is the reply.
    pub(super) async fn run_command(
        &self,
        session_id: String,
        message: &str,
        command: Command,
        tx: &Sender,
        cancel: &CancellationToken,
    ) -> Result<TurnReply, ChatError> {
        self.append(NewEvent::message(&session_id, Role::User, message))
            .await?;
        let (plugin, input) = match command {
            Command::Malformed => {
                return self.reply(session_id, USAGE.to_owned(), Vec::new()).await;
            }
            Command::Run { plugin, input } => (plugin, input),
        };
        let id = format!("run_{}", Uuid::now_v7().simple());
        let run_id = Uuid::now_v7();
        let call = Step::ToolCall {
            id: id.clone(),
            plugin: plugin.clone(),
            arguments: input.clone(),
            run_id: run_id.to_string(),
        };
        let _ = tx.send(Progress::Step(call.clone()));
        let mut request = ExecutionRequest::new(plugin.clone(), input)
            .with_session(&session_id)
            .with_actor(self.actor())
            .with_progress(tool_progress_sink(tx, &id, &run_id.to_string(), &plugin));
        request.cancel = cancel.child_token();
        let outcome = self
            .inner
            .executor
            .execute_as(run_id, request, ExecutionSource::Chat)
            .await;
        let (result, text) = match outcome {
            Ok(logged) => (
                Step::ToolResult {
                    id,
                    plugin: logged.execution.plugin.clone(),
                    ok: true,
                    output: Some(logged.execution.result.clone()),
                    error: None,
                },
                render(&logged.execution.result),
            ),
            Err(ExecuteError::Plugin { plugin, error, .. }) => {
                let text = match &error {
                    PluginError::NotFound {
                        name,
                        suggestion: Some(suggestion),
                    } => format!("Unknown plugin '{name}'. Did you mean '{suggestion}'?"),
                    PluginError::NotFound { name, .. } => format!(
                        "Unknown plugin '{name}'. `/run plugin_metadata` lists the plugins."
                    ),
                    PluginError::Unavailable(message) => message.clone(),
                    other => format!("Plugin '{plugin}' failed: {other}"),
                };
                (
                    Step::ToolResult {
                        id,
                        plugin,
                        ok: false,
                        output: None,
                        error: Some(error.to_string()),
                    },
                    text,
                )
            }
            Err(ExecuteError::InvalidSession(error)) => {
                return Err(ChatError::InvalidSession(error));
            }
            Err(ExecuteError::Store(error)) => return Err(ChatError::Store(error)),
            Err(error @ ExecuteError::RunIdInUse(_)) => {
                return Err(ChatError::BadRequest(error.to_string()));
            }
        };
        let _ = tx.send(Progress::Step(result.clone()));
        if cancel.is_cancelled() {
            return Err(ChatError::Cancelled);
        }
        self.reply(session_id, text, vec![call, result]).await
    }

    /// Logs `text` as the assistant's reply and answers the turn.
    async fn reply(
        &self,
        session_id: String,
        text: String,
        mut steps: Vec<Step>,
    ) -> Result<TurnReply, ChatError> {
        self.append(NewEvent::message(&session_id, Role::Assistant, &text))
            .await?;
        steps.push(Step::Reply { text: text.clone() });
        Ok(TurnReply {
            reply: text,
            session_id,
            steps,
        })
    }

    /// Logs one event, recorded under this handle's actor.
    pub(super) async fn append(&self, event: NewEvent) -> Result<(), ChatError> {
        self.inner
            .executor
            .store()
            .append_one(event.with_actor(self.actor()))
            .await
            .map(|_| ())
            .map_err(ChatError::Store)
    }

    /// Logs events in one commit, each recorded under this handle's actor.
    pub(super) async fn append_all(&self, events: Vec<NewEvent>) -> Result<(), ChatError> {
        let events = events
            .into_iter()
            .map(|event| event.with_actor(self.actor()))
            .collect();
        self.inner
            .executor
            .store()
            .append(events)
            .await
            .map(|_| ())
            .map_err(ChatError::Store)
    }

    /// A failed turn leaves an `error` event, when the log can still take it.
    pub(super) async fn log_error(&self, session_id: &str, error: &ChatError) {
        if matches!(error, ChatError::InvalidSession(_) | ChatError::Store(_)) {
            return;
        }
        let event =
            NewEvent::error(session_id, error.code(), error.to_string()).with_actor(self.actor());
        if let Err(store_error) = self.inner.executor.store().append_one(event).await {
            tracing::error!(session_id, error = %store_error, "chat error not logged");
        }
    }
}
