//! `/v1/chat/completions`: the same tool loop over the client's own messages, answered as
//! OpenAI chunks, with the client's own tools returned as `tool_calls` rather than run.

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use codex_store::{NewEvent, Role};

use super::command;
use super::event::{Progress, Pumped, pump};
use super::tool_loop::{LoopEnd, LoopInput};
use super::{Chat, ChatError};
use crate::openai::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ChatMessage, Choice,
    ChunkAssembler, ChunkChoice, Delta, ToolCallDelta, Usage,
};

impl Chat {
    /// `/v1/chat/completions`, collected into one response (usage always included).
    pub async fn complete(
        &self,
        session_id: &str,
        request: ChatCompletionRequest,
    ) -> Result<ChatCompletionResponse, ChatError> {
        self.complete_excluding(session_id, request, Vec::new())
            .await
    }

    /// [`Chat::complete`] whose tools leave out the plugins `exclude`.
    pub async fn complete_excluding(
        &self,
        session_id: &str,
        request: ChatCompletionRequest,
        exclude: Vec<String>,
    ) -> Result<ChatCompletionResponse, ChatError> {
        let mut chunks = self.completion_chunks(session_id.to_owned(), request, true, exclude);
        let mut assembler = ChunkAssembler::default();
        let mut head = None;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            assembler.push(&chunk);
            head.get_or_insert((chunk.id, chunk.created, chunk.model));
        }
        let (id, created, model) = head.ok_or(ChatError::Provider {
            failures: Vec::new(),
        })?;
        let usage = assembler.usage().unwrap_or_default();
        let finish_reason = assembler.finish_reason().map(str::to_owned);
        let mut message = assembler.finish();
        if message.content.is_none() && message.tool_calls.is_none() {
            message.content = Some(Value::String(String::new()));
        }
        Ok(ChatCompletionResponse {
            id,
            object: "chat.completion".to_owned(),
            created,
            model,
            choices: vec![Choice {
                index: 0,
                message,
                finish_reason,
            }],
            usage: Some(usage),
        })
    }

    /// `/v1/chat/completions` with `stream: true`: text deltas as they come, client tool
    /// calls at the end, and a usage chunk when `stream_options.include_usage` asks for it.
    pub fn complete_stream(
        &self,
        session_id: String,
        request: ChatCompletionRequest,
    ) -> BoxStream<'static, Result<ChatCompletionChunk, ChatError>> {
        self.complete_stream_excluding(session_id, request, Vec::new())
    }

    /// [`Chat::complete_stream`] whose tools leave out the plugins `exclude`.
    pub fn complete_stream_excluding(
        &self,
        session_id: String,
        request: ChatCompletionRequest,
        exclude: Vec<String>,
    ) -> BoxStream<'static, Result<ChatCompletionChunk, ChatError>> {
        let include_usage = request
            .stream_options
            .as_ref()
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.completion_chunks(session_id, request, include_usage, exclude)
    }

    fn completion_chunks(
        &self,
        session_id: String,
        request: ChatCompletionRequest,
        include_usage: bool,
        exclude: Vec<String>,
    ) -> BoxStream<'static, Result<ChatCompletionChunk, ChatError>> {
        let chat = self.clone();
        async_stream::stream! {
            // A client that goes away drops this stream, and with it the running calls.
            let cancel = CancellationToken::new();
            let _cancel_when_dropped = cancel.clone().drop_guard();
            if let Err(error) = codex_store::validate_session_id(&session_id) {
                yield Err(ChatError::InvalidSession(error));
                return;
            }
            if request.messages.is_empty() {
                yield Err(ChatError::BadRequest("`messages` must not be empty".to_owned()));
                return;
            }
            // A last user message `/run <plugin> <input>` runs the plugin and bypasses the
            // model, as in `/chat`: IDE chat panels speak only this protocol.
            let command = request
                .messages
                .last()
                .filter(|m| m.role == "user")
                .map(ChatMessage::text_content)
                .and_then(|text| command::parse(&text).map(|command| (text, command)));
            if command.is_none() && chat.inner.chain.is_none() {
                yield Err(ChatError::NoModel);
                return;
            }
            let model = request
                .model
                .clone()
                .or_else(|| chat.models().into_iter().next())
                .unwrap_or_else(|| "codexcontinue".to_owned());
            let id = format!("chatcmpl-{}", Uuid::now_v7().simple());
            let created = chrono::Utc::now().timestamp();
            let chunk = |delta: Delta, finish_reason: Option<&str>, usage: Option<Usage>| ChatCompletionChunk {
                id: id.clone(),
                object: "chat.completion.chunk".to_owned(),
                created,
                model: model.clone(),
                choices: if usage.is_some() {
                    Vec::new()
                } else {
                    vec![ChunkChoice {
                        index: 0,
                        delta,
                        finish_reason: finish_reason.map(str::to_owned),
                    }]
                },
                usage,
            };
            yield Ok(chunk(
                Delta {
                    role: Some("assistant".to_owned()),
                    content: Some(String::new()),
                    tool_calls: None,
                },
                None,
                None,
            ));
            if let Some((text, command)) = command {
                // The steps are not streamed on `/v1`; the reply carries the result.
                let (tx, _steps) = tokio::sync::mpsc::unbounded_channel();
                match chat.run_command(session_id.clone(), &text, command, &tx, &cancel).await {
                    Ok(reply) => {
                        yield Ok(chunk(Delta { content: Some(reply.reply), ..Delta::default() }, None, None));
                        yield Ok(chunk(Delta::default(), Some("stop"), None));
                        if include_usage {
                            yield Ok(chunk(Delta::default(), None, Some(Usage::default())));
                        }
                    }
                    Err(error) => {
                        chat.log_error(&session_id, &error).await;
                        yield Err(error);
                    }
                }
                return;
            }
            let mut messages = request.messages;
            if !messages.iter().any(|m| m.role == "system" || m.role == "developer") {
                messages.insert(0, ChatMessage::system(&chat.inner.config.system_prompt));
            }
            // Appended while the model is asked, so that its commit does not delay the first
            // token; the loop commits it before anything it logs afterwards.
            let first_event = messages
                .last()
                .filter(|m| m.role == "user")
                .map(|last| NewEvent::message(&session_id, Role::User, last.text_content()));
            let input = LoopInput {
                session_id: session_id.clone(),
                messages,
                exclude,
                client_tools: request.tools.unwrap_or_default(),
                tool_choice: request.tool_choice,
                extra: request.extra,
                stream: request.stream == Some(true),
                cancel: cancel.clone(),
                // `/v1` turns are not registered for cancelling by id; this one names the
                // turn in its approvals.
                turn_id: Uuid::now_v7(),
                hand_off_approvals: true,
                first_event,
            };
            let looping = chat.clone();
            let pumped = pump(move |tx| async move { looping.run_loop(input, &tx).await });
            futures::pin_mut!(pumped);
            let mut result = None;
            while let Some(item) = pumped.next().await {
                match item {
                    Pumped::Progress(Progress::Delta(text)) => {
                        yield Ok(chunk(Delta { content: Some(text), ..Delta::default() }, None, None));
                    }
                    // `/v1` has no events for steps or progress; the reply carries the outcome.
                    Pumped::Progress(Progress::Step(_) | Progress::Tool(_) | Progress::Approval(_)) => {}
                    Pumped::Finished(finished) => result = Some(finished),
                }
            }
            let Some(result) = result else {
                return;
            };
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(error) => {
                    chat.log_error(&session_id, &error).await;
                    yield Err(error);
                    return;
                }
            };
            match outcome.end {
                LoopEnd::Reply(_) => yield Ok(chunk(Delta::default(), Some("stop"), None)),
                LoopEnd::StepLimit(text) => {
                    yield Ok(chunk(Delta { content: Some(text), ..Delta::default() }, Some("stop"), None));
                }
                LoopEnd::ClientCalls(message) => {
                    let calls = ToolCallDelta::from_calls(message.tool_calls.unwrap_or_default());
                    yield Ok(chunk(
                        Delta { tool_calls: Some(calls), ..Delta::default() },
                        Some("tool_calls"),
                        None,
                    ));
                }
            }
            if include_usage {
                yield Ok(chunk(Delta::default(), None, Some(outcome.usage)));
            }
        }
        .boxed()
    }
}
