//! The tool loop: the model is called with the plugins as tools, the calls it makes run in
//! parallel and their results go back to it, until it answers without tools, calls a tool
//! the client offered (`/v1`), or `max_steps` model calls were made.

use std::collections::HashSet;

use codex_host::tools::Toolbox;
use codex_host::{ExecutionRequest, PluginEntry};
use codex_store::{ExecutionSource, NewEvent, Role};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::approval::{CallToApprove, HandedOff};
use super::event::{Progress, Sender, Step, tool_progress_sink};
use super::provider::ProviderChain;
use super::{Chat, ChatError};
use crate::ExecuteError;
use crate::openai::{
    ChatCompletionRequest, ChatMessage, ChunkAssembler, ToolCall, ToolSpec, Usage,
};

/// What the loop is asked to do.
pub(super) struct LoopInput {
    pub session_id: String,
    pub messages: Vec<ChatMessage>,
    /// Plugins not offered as tools.
    pub exclude: Vec<String>,
    /// Tools the client offered; calls to them are returned, not run.
    pub client_tools: Vec<ToolSpec>,
    pub tool_choice: Option<Value>,
    pub extra: Map<String, Value>,
    /// Whether the model's answers are streamed; a client that wants one whole answer gets
    /// the provider's whole answers, whose usage every provider reports.
    pub stream: bool,
    /// Cancels the turn: the model request in flight is dropped and every tool call's own
    /// token (a child of this one) is cancelled.
    pub cancel: CancellationToken,
    /// The turn's id, which a tool call waiting for approval names.
    pub turn_id: Uuid,
    /// Calls that need approval go back to the client as tool calls for its user to answer
    /// (`/v1`), instead of waiting here for `POST /api/approvals/{id}`.
    pub hand_off_approvals: bool,
    /// An event to append while the first model call runs (`/v1`'s user message), so that
    /// its commit does not delay the first token; it is committed before anything the turn
    /// logs after it, and a failure to append it fails the turn.
    pub first_event: Option<NewEvent>,
}

/// How the loop ended.
pub(super) enum LoopEnd {
    Reply(String),
    /// The model called client tools: this message carries those calls.
    ClientCalls(ChatMessage),
    StepLimit(String),
}

pub(super) struct LoopOutcome {
    pub end: LoopEnd,
    pub steps: Vec<Step>,
    pub usage: Usage,
}

impl Chat {
    /// The tool loop: model call, tool calls run in parallel, results fed back, until a
    /// reply, client tool calls, or the step limit.
    pub(super) async fn run_loop(
        &self,
        input: LoopInput,
        tx: &Sender,
    ) -> Result<LoopOutcome, ChatError> {
        let chain = self.inner.chain.as_ref().ok_or(ChatError::NoModel)?;
        let LoopInput {
            session_id,
            mut messages,
            exclude,
            client_tools,
            tool_choice,
            extra,
            stream,
            cancel,
            turn_id,
            hand_off_approvals,
            mut first_event,
        } = input;
        let client_names: HashSet<String> = client_tools
            .iter()
            .map(|t| t.function.name.clone())
            .collect();
        // A client's own tool of the same name wins over ours.
        let mut ours = self.inner.executor.plugins().toolbox(&exclude);
        for name in &client_names {
            ours.remove(name);
        }
        let mut specs: Vec<ToolSpec> = ours
            .definitions()
            .into_iter()
            .map(|definition| ToolSpec {
                kind: "function".to_owned(),
                function: crate::openai::FunctionSpec {
                    name: definition.function.name,
                    description: Some(definition.function.description),
                    parameters: Some(definition.function.parameters),
                },
            })
            .collect();
        specs.extend(client_tools);
        let mut steps = Vec::new();
        let mut usage = Usage::default();
        if hand_off_approvals {
            let handed_back = self
                .handed_back_calls(&session_id, turn_id, &ours, &client_names, &messages)
                .await?;
            let results = self
                .run_tools(
                    &session_id,
                    turn_id,
                    &ours,
                    &handed_back,
                    true,
                    &mut steps,
                    tx,
                    &cancel,
                )
                .await?;
            if cancel.is_cancelled() {
                return Err(ChatError::Cancelled);
            }
            messages.extend(results);
        }
        for _ in 0..self.inner.config.max_steps {
            let request = ChatCompletionRequest {
                model: None,
                messages: messages.clone(),
                tools: (!specs.is_empty()).then(|| specs.clone()),
                tool_choice: tool_choice.clone(),
                stream: (!stream).then_some(false),
                stream_options: None,
                extra: extra.clone(),
            };
            // Dropping the model's stream closes its connection: the provider stops generating.
            let answer = async {
                match first_event.take() {
                    Some(event) => {
                        // A task of its own: a turn cancelled meanwhile still logs it.
                        let chat = self.clone();
                        let appending = tokio::spawn(async move { chat.append(event).await });
                        let (appended, answer) =
                            tokio::join!(appending, call_model(chain, &request, Some(tx)));
                        appended.map_err(|e| {
                            ChatError::Store(codex_store::StoreError::Io(format!(
                                "appending the user's message failed: {e}"
                            )))
                        })??;
                        answer
                    }
                    None => call_model(chain, &request, Some(tx)).await,
                }
            };
            let (message, used) = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(ChatError::Cancelled),
                answer = answer => answer?,
            };
            usage.add(&used);
            let calls = message.tool_calls.clone().unwrap_or_default();
            let text = message.text_content();
            if calls.is_empty() {
                self.append(NewEvent::message(&session_id, Role::Assistant, &text))
                    .await?;
                steps.push(Step::Reply { text: text.clone() });
                return Ok(LoopOutcome {
                    end: LoopEnd::Reply(text),
                    steps,
                    usage,
                });
            }
            if !text.trim().is_empty() {
                self.append(NewEvent::message(&session_id, Role::Assistant, &text))
                    .await?;
            }
            let (theirs, mine): (Vec<ToolCall>, Vec<ToolCall>) = calls
                .into_iter()
                .partition(|call| client_names.contains(&call.function.name));
            if hand_off_approvals
                && mine
                    .iter()
                    .any(|call| self.asking(&session_id, &ours, call).is_some())
            {
                // The whole message goes to the client, whose user answers the calls that
                // need it; every call of ours in it runs when the client sends it back.
                self.hand_off(&session_id, turn_id, &ours, &mine, &mut steps, tx)
                    .await?;
                return Ok(LoopOutcome {
                    end: LoopEnd::ClientCalls(message),
                    steps,
                    usage,
                });
            }
            let results = self
                .run_tools(
                    &session_id,
                    turn_id,
                    &ours,
                    &mine,
                    false,
                    &mut steps,
                    tx,
                    &cancel,
                )
                .await?;
            // The calls' results are logged; the turn stops before the next model call.
            if cancel.is_cancelled() {
                return Err(ChatError::Cancelled);
            }
            if !theirs.is_empty() {
                return Ok(LoopOutcome {
                    end: LoopEnd::ClientCalls(ChatMessage {
                        tool_calls: Some(theirs),
                        ..message
                    }),
                    steps,
                    usage,
                });
            }
            messages.push(message);
            messages.extend(results);
        }
        let max = self.inner.config.max_steps;
        let text = format!(
            "I stopped after {max} model calls: the step limit was reached before a final answer."
        );
        self.append(NewEvent::error(&session_id, "step_limit", &text))
            .await?;
        self.append(NewEvent::message(&session_id, Role::Assistant, &text))
            .await?;
        steps.push(Step::Error {
            code: "step_limit".to_owned(),
            message: text.clone(),
        });
        Ok(LoopOutcome {
            end: LoopEnd::StepLimit(text),
            steps,
            usage,
        })
    }

    /// Logs the calls of ours in a message handed to the client, and asks its user (through
    /// the client) about those that need approval.
    async fn hand_off(
        &self,
        session_id: &str,
        turn_id: Uuid,
        tools: &Toolbox,
        calls: &[ToolCall],
        steps: &mut Vec<Step>,
        tx: &Sender,
    ) -> Result<(), ChatError> {
        let mut logged = Vec::new();
        for call in calls {
            let arguments = parse_arguments(&call.function.arguments);
            let shown = arguments
                .clone()
                .unwrap_or_else(|_| Value::String(call.function.arguments.clone()));
            let entry = tools.resolve(&call.function.name);
            let plugin = entry.map_or_else(|| call.function.name.clone(), |e| e.info.name.clone());
            logged.push(NewEvent::tool_call(
                session_id,
                &call.id,
                &plugin,
                shown.clone(),
            ));
            let step = Step::ToolCall {
                id: call.id.clone(),
                plugin,
                arguments: shown,
                run_id: String::new(),
            };
            let _ = tx.send(Progress::Step(step.clone()));
            steps.push(step);
        }
        self.append_all(logged).await?;
        for call in calls {
            if let Some((entry, arguments)) = self.asking(session_id, tools, call) {
                let call = HandedOff {
                    session_id,
                    call_id: &call.id,
                    entry,
                    arguments: &arguments,
                };
                self.log_handed_off(turn_id, &call).await?;
            }
        }
        Ok(())
    }

    /// A call of ours that would make a person answer: its plugin and its arguments.
    fn asking<'t>(
        &self,
        session_id: &str,
        tools: &'t Toolbox,
        call: &ToolCall,
    ) -> Option<(&'t PluginEntry, Value)> {
        let entry = tools.resolve(&call.function.name)?;
        let arguments = parse_arguments(&call.function.arguments).ok()?;
        self.would_ask(session_id, entry)
            .then_some((entry, arguments))
    }

    /// The calls of ours that the client sent back unanswered in its last assistant message
    /// (a message handed to it, approved by its user): they run now. A call it answered with
    /// a `tool` message of its own was denied there, and its answer stands as the result.
    async fn handed_back_calls(
        &self,
        session_id: &str,
        turn_id: Uuid,
        tools: &Toolbox,
        client_names: &HashSet<String>,
        messages: &[ChatMessage],
    ) -> Result<Vec<ToolCall>, ChatError> {
        let Some(at) = messages.iter().rposition(|m| m.role == "assistant") else {
            return Ok(Vec::new());
        };
        let after = &messages[at + 1..];
        let Some(calls) = messages[at].tool_calls.as_ref() else {
            return Ok(Vec::new());
        };
        if after.iter().any(|m| m.role != "tool") {
            return Ok(Vec::new());
        }
        let answered: HashSet<&str> = after
            .iter()
            .filter_map(|m| m.tool_call_id.as_deref())
            .collect();
        let mut unanswered = Vec::new();
        for call in calls
            .iter()
            .filter(|call| !client_names.contains(&call.function.name))
        {
            let sent_back = !answered.contains(call.id.as_str());
            if let Some((entry, arguments)) = self.asking(session_id, tools, call) {
                let handed = HandedOff {
                    session_id,
                    call_id: &call.id,
                    entry,
                    arguments: &arguments,
                };
                self.log_client_answer(turn_id, &handed, sent_back).await?;
            }
            if sent_back {
                unanswered.push(call.clone());
            }
        }
        Ok(unanswered)
    }

    /// Runs the model's calls to our plugins in parallel; answers the `tool` messages.
    /// `approved` calls were approved (and logged) already, by the client that sent them back.
    #[allow(clippy::too_many_arguments)]
    async fn run_tools(
        &self,
        session_id: &str,
        turn_id: Uuid,
        tools: &Toolbox,
        calls: &[ToolCall],
        approved: bool,
        steps: &mut Vec<Step>,
        tx: &Sender,
        cancel: &CancellationToken,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let mut logged = Vec::new();
        let mut runs = Vec::new();
        for call in calls {
            let arguments = parse_arguments(&call.function.arguments);
            let entry = tools.resolve(&call.function.name);
            let plugin = entry.map_or_else(|| call.function.name.clone(), |e| e.info.name.clone());
            let shown = arguments
                .clone()
                .unwrap_or_else(|_| Value::String(call.function.arguments.clone()));
            logged.push(NewEvent::tool_call(
                session_id,
                &call.id,
                &plugin,
                shown.clone(),
            ));
            let runs_here = entry.is_some() && arguments.is_ok();
            let run_id = Uuid::now_v7();
            let step = Step::ToolCall {
                id: call.id.clone(),
                plugin: plugin.clone(),
                arguments: shown,
                run_id: if runs_here {
                    run_id.to_string()
                } else {
                    String::new()
                },
            };
            let _ = tx.send(Progress::Step(step.clone()));
            steps.push(step);
            let executor = self.inner.executor.clone();
            let chat = self.clone();
            let approval_tx = tx.clone();
            let entry = entry.cloned();
            let session_id = session_id.to_owned();
            let id = call.id.clone();
            let call_cancel = cancel.child_token();
            let progress = tool_progress_sink(tx, &id, &run_id.to_string(), &plugin);
            runs.push(async move {
                let outcome: Result<Result<Value, String>, ChatError> = match (entry, arguments) {
                    (None, _) => Ok(Err(format!("unknown tool '{plugin}'"))),
                    (Some(_), Err(error)) => Ok(Err(error)),
                    (Some(entry), Ok(arguments)) => match if approved {
                        Ok(None)
                    } else {
                        chat.approve_call(
                            CallToApprove {
                                session_id: &session_id,
                                turn_id,
                                call_id: &id,
                                entry: &entry,
                                arguments: &arguments,
                            },
                            &approval_tx,
                            &call_cancel,
                        )
                        .await
                    } {
                        Err(error) => Err(error),
                        Ok(Some(refused)) => Ok(Err(refused)),
                        Ok(None) => {
                            let input = Toolbox::input(&entry, arguments);
                            let mut request = ExecutionRequest::new(entry.info.name.clone(), input)
                                .with_session(session_id)
                                .with_actor(chat.actor())
                                .with_progress(progress);
                            request.cancel = call_cancel;
                            match executor
                                .execute_as(run_id, request, ExecutionSource::Chat)
                                .await
                            {
                                Ok(logged) => Ok(Ok(logged.execution.result)),
                                Err(ExecuteError::Plugin { error, .. }) => {
                                    Ok(Err(error.to_string()))
                                }
                                Err(ExecuteError::InvalidSession(e)) => {
                                    Err(ChatError::InvalidSession(e))
                                }
                                Err(ExecuteError::Store(e)) => Err(ChatError::Store(e)),
                                Err(e @ ExecuteError::RunIdInUse(_)) => Ok(Err(e.to_string())),
                            }
                        }
                    },
                };
                (id, plugin, outcome)
            });
        }
        if !approved {
            self.append_all(logged).await?;
        }
        let mut results = Vec::new();
        let mut events = Vec::new();
        for (id, plugin, outcome) in futures::future::join_all(runs).await {
            let outcome = outcome?;
            let (content, step) = match outcome {
                Ok(output) => {
                    events.push(NewEvent::tool_result(
                        session_id,
                        &id,
                        &plugin,
                        output.clone(),
                        false,
                    ));
                    (
                        render_for_model(&output),
                        Step::ToolResult {
                            id: id.clone(),
                            plugin,
                            ok: true,
                            output: Some(output),
                            error: None,
                        },
                    )
                }
                Err(error) => {
                    events.push(NewEvent::tool_result(
                        session_id,
                        &id,
                        &plugin,
                        json!({ "error": error }),
                        true,
                    ));
                    (
                        json!({ "error": error }).to_string(),
                        Step::ToolResult {
                            id: id.clone(),
                            plugin,
                            ok: false,
                            output: None,
                            error: Some(error),
                        },
                    )
                }
            };
            let _ = tx.send(Progress::Step(step.clone()));
            steps.push(step);
            results.push(ChatMessage::tool(id, content));
        }
        self.append_all(events).await?;
        Ok(results)
    }
}

/// One model call through the chain; text deltas go to `tx` as they arrive.
pub(super) async fn call_model(
    chain: &ProviderChain,
    request: &ChatCompletionRequest,
    tx: Option<&Sender>,
) -> Result<(ChatMessage, Usage), ChatError> {
    let mut stream = chain
        .stream(request)
        .await
        .map_err(|failures| ChatError::Provider { failures })?;
    let mut assembler = ChunkAssembler::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|failure| ChatError::Provider {
            failures: vec![failure],
        })?;
        if let Some(text) = assembler.push(&chunk)
            && let Some(tx) = tx
        {
            let _ = tx.send(Progress::Delta(text));
        }
    }
    let usage = assembler.usage().unwrap_or_default();
    Ok((assembler.finish(), usage))
}

/// A tool call's arguments: JSON text, empty meaning `{}`.
fn parse_arguments(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(text).map_err(|e| format!("the arguments are not valid JSON: {e}"))
}

/// What the model reads of a tool's output: a string as is, anything else as JSON text.
fn render_for_model(output: &Value) -> String {
    match output {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
