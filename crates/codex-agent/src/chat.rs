//! The chat turn: `/run` dispatch, the model with plugins as tools, and the log of every step.
//!
//! A turn is one user message and everything it causes. `/run <plugin> <input>` (or
//! `run <plugin> <input>`) calls the plugin directly. Any other message goes to the model
//! chain with the system prompt, the session's short memory and the enabled plugins as
//! tools; tool calls run here, in parallel when the model asks for several, and their
//! results go back to the model until it answers without tools or `max_steps` model calls
//! were made. Every step is appended to the session's log, so the audit timeline shows the
//! whole turn and the next turn's short memory holds this one's messages.
//!
//! There is one code path: [`Chat::turn`] collects [`Chat::turn_stream`], and
//! [`Chat::complete`] collects [`Chat::complete_stream`]; both streams drive the same loop.
//!
//! `/v1/chat/completions` ([`Chat::complete`]): when the model calls both our plugins and
//! tools the client sent, ours are run and logged, and the response carries only the
//! client's calls (finish reason `tool_calls`).

mod command;
mod provider;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use codex_host::{ExecutionRequest, PluginEntry};
use codex_plugin::PluginError;
use codex_store::{ExecutionSource, NewEvent, Role, StoreError};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

pub use command::{Command, USAGE, parse as parse_command, parse_input, render};
pub use provider::{ChunkStream, ProviderChain, ProviderConfig, ProviderError, ProviderFailure};

use crate::openai::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ChatMessage, Choice,
    ChunkAssembler, ChunkChoice, Delta, ToolCall, ToolCallDelta, ToolSpec, Usage,
};
use crate::{ExecuteError, Executor};

/// The system prompt when config gives none.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are CodexContinue, an assistant for software \
developers. The tools you are offered are the plugins of this server: call one when it helps \
to answer, and answer directly and concisely otherwise.";

/// How many model calls one turn may make when config says nothing.
pub const DEFAULT_MAX_STEPS: usize = 8;

/// The reply to a chat message when no model is configured.
pub const NO_MODEL_REPLY: &str = "No language model is configured, so only plugin commands work \
here: try `/run echo hello` or `/run plugin_metadata`. To chat with a model, add an \
OpenAI-compatible provider to the config file:\n\n[[model.providers]]\nname = \"local\"\n\
base_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3.2\"\n\
# api_key_env = \"OPENAI_API_KEY\"\n\nand restart the server.";

/// The `[model]` config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// In order of preference; empty means no model.
    pub providers: Vec<ProviderConfig>,
    pub system_prompt: String,
    /// The most model calls one turn makes.
    pub max_steps: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            providers: Vec::new(),
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_owned(),
            max_steps: DEFAULT_MAX_STEPS,
        }
    }
}

/// Whether a model is configured, for `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelStatus {
    pub configured: bool,
    pub providers: Vec<ProviderStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderStatus {
    pub name: String,
    pub base_url: String,
    pub model: String,
}

/// The outcome of a turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnReply {
    pub reply: String,
    pub session_id: String,
    pub steps: Vec<Step>,
}

/// One step of a turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    ToolCall {
        id: String,
        plugin: String,
        arguments: Value,
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

/// What a streamed turn reports, in order. The last event is `done` or `error`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TurnEvent {
    /// A piece of the model's reply text.
    Delta {
        text: String,
    },
    ToolCall {
        id: String,
        plugin: String,
        arguments: Value,
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
    Done(TurnReply),
    Error {
        code: String,
        message: String,
    },
}

impl TurnEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            TurnEvent::Delta { .. } => "delta",
            TurnEvent::ToolCall { .. } => "tool_call",
            TurnEvent::ToolResult { .. } => "tool_result",
            TurnEvent::Done(_) => "done",
            TurnEvent::Error { .. } => "error",
        }
    }

    fn from_step(step: &Step) -> Option<TurnEvent> {
        match step.clone() {
            Step::ToolCall {
                id,
                plugin,
                arguments,
            } => Some(TurnEvent::ToolCall {
                id,
                plugin,
                arguments,
            }),
            Step::ToolResult {
                id,
                plugin,
                ok,
                output,
                error,
            } => Some(TurnEvent::ToolResult {
                id,
                plugin,
                ok,
                output,
                error,
            }),
            Step::Reply { .. } | Step::Error { .. } => None,
        }
    }
}

/// Why a turn gave no reply. Plugin failures are not here: they are part of the reply.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("invalid session id: {0}")]
    InvalidSession(StoreError),
    #[error("no language model is configured")]
    NoModel,
    #[error("the model providers failed: {}", list(failures))]
    Provider { failures: Vec<ProviderFailure> },
    /// The client's request is invalid (`/v1/chat/completions`).
    #[error("{0}")]
    BadRequest(String),
    #[error("the session log is unavailable: {0}")]
    Store(StoreError),
}

impl ChatError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::InvalidSession(_) => "invalid_session",
            ChatError::NoModel => "no_model",
            ChatError::Provider { .. } => "provider_error",
            ChatError::BadRequest(_) => "bad_request",
            ChatError::Store(_) => "store_error",
        }
    }
}

fn list(failures: &[ProviderFailure]) -> String {
    if failures.is_empty() {
        return "no provider answered".to_owned();
    }
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Chat over the executor and the model chain. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    executor: Executor,
    chain: Option<ProviderChain>,
    config: ChatConfig,
    short_limit: usize,
}

/// Something the loop reports while it runs.
enum Progress {
    Delta(String),
    Step(Step),
}

type Sender = mpsc::UnboundedSender<Progress>;

/// What the loop is asked to do.
struct LoopInput {
    session_id: String,
    messages: Vec<ChatMessage>,
    /// Plugins not offered as tools.
    exclude: Vec<String>,
    /// Tools the client offered; calls to them are returned, not run.
    client_tools: Vec<ToolSpec>,
    tool_choice: Option<Value>,
    extra: Map<String, Value>,
    /// Whether the model's answers are streamed; a client that wants one whole answer gets
    /// the provider's whole answers, whose usage every provider reports.
    stream: bool,
}

/// How the loop ended.
enum LoopEnd {
    Reply(String),
    /// The model called client tools: this message carries those calls.
    ClientCalls(ChatMessage),
    StepLimit(String),
}

struct LoopOutcome {
    end: LoopEnd,
    steps: Vec<Step>,
    usage: Usage,
}

impl Chat {
    pub fn new(executor: Executor, config: ChatConfig, short_limit: usize) -> Chat {
        let chain = ProviderChain::new(&config.providers);
        Chat {
            inner: Arc::new(Inner {
                executor,
                chain,
                config,
                short_limit,
            }),
        }
    }

    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    pub fn config(&self) -> &ChatConfig {
        &self.inner.config
    }

    pub fn model_status(&self) -> ModelStatus {
        let providers: Vec<ProviderStatus> = self
            .inner
            .config
            .providers
            .iter()
            .map(|p| ProviderStatus {
                name: p.name.clone(),
                base_url: p.base_url.clone(),
                model: p.model.clone(),
            })
            .collect();
        ModelStatus {
            configured: !providers.is_empty(),
            providers,
        }
    }

    /// The model ids of the chain, in order, without repeats.
    pub fn models(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.inner
            .config
            .providers
            .iter()
            .filter(|p| seen.insert(p.model.clone()))
            .map(|p| p.model.clone())
            .collect()
    }

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
            match event {
                Ok(TurnEvent::Done(reply)) => return Ok(reply),
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Err(ChatError::Provider {
            failures: Vec::new(),
        })
    }

    /// One turn as it happens: deltas, tool calls and results, then `done` or `error`.
    pub fn turn_stream(
        &self,
        session_id: String,
        message: String,
    ) -> BoxStream<'static, TurnEvent> {
        self.events(session_id, message, Vec::new())
            .map(|event| {
                event.unwrap_or_else(|error| TurnEvent::Error {
                    code: error.code().to_owned(),
                    message: error.to_string(),
                })
            })
            .boxed()
    }

    /// One prompt to the model chain, no tools, nothing logged (the `llm` plugin).
    pub async fn prompt(&self, system: Option<&str>, prompt: &str) -> Result<String, ChatError> {
        let chain = self.inner.chain.as_ref().ok_or(ChatError::NoModel)?;
        let mut messages = Vec::new();
        if let Some(system) = system {
            messages.push(ChatMessage::system(system));
        }
        messages.push(ChatMessage::user(prompt));
        let request = ChatCompletionRequest {
            messages,
            ..ChatCompletionRequest::default()
        };
        let (message, _) = call_model(chain, &request, None).await?;
        Ok(message.text_content())
    }

    fn events(
        &self,
        session_id: String,
        message: String,
        exclude: Vec<String>,
    ) -> BoxStream<'static, Result<TurnEvent, ChatError>> {
        let chat = self.clone();
        let (tx, mut rx) = mpsc::unbounded_channel();
        async_stream::stream! {
            let work = chat.clone().run_turn(session_id.clone(), message, exclude, tx);
            tokio::pin!(work);
            let result = loop {
                let next = tokio::select! {
                    biased;
                    Some(progress) = rx.recv() => Err(progress),
                    result = &mut work => Ok(result),
                };
                match next {
                    Err(progress) => {
                        if let Some(event) = progress_event(progress) {
                            yield Ok(event);
                        }
                    }
                    Ok(result) => break result,
                }
            };
            while let Ok(progress) = rx.try_recv() {
                if let Some(event) = progress_event(progress) {
                    yield Ok(event);
                }
            }
            match result {
                Ok(reply) => yield Ok(TurnEvent::Done(reply)),
                Err(error) => {
                    chat.log_error(&session_id, &error).await;
                    yield Err(error);
                }
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
    ) -> Result<TurnReply, ChatError> {
        codex_store::validate_session_id(&session_id).map_err(ChatError::InvalidSession)?;
        if let Some(command) = command::parse(&message) {
            return self.run_command(session_id, &message, command, &tx).await;
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
    async fn run_command(
        &self,
        session_id: String,
        message: &str,
        command: Command,
        tx: &Sender,
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
        let call = Step::ToolCall {
            id: id.clone(),
            plugin: plugin.clone(),
            arguments: input.clone(),
        };
        let _ = tx.send(Progress::Step(call.clone()));
        let request = ExecutionRequest::new(plugin.clone(), input).with_session(&session_id);
        let outcome = self
            .inner
            .executor
            .execute(request, ExecutionSource::Chat)
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
        };
        let _ = tx.send(Progress::Step(result.clone()));
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

    async fn append(&self, event: NewEvent) -> Result<(), ChatError> {
        self.inner
            .executor
            .store()
            .append_one(event)
            .await
            .map(|_| ())
            .map_err(ChatError::Store)
    }

    /// A failed turn leaves an `error` event, when the log can still take it.
    async fn log_error(&self, session_id: &str, error: &ChatError) {
        if matches!(error, ChatError::InvalidSession(_) | ChatError::Store(_)) {
            return;
        }
        let event = NewEvent::error(session_id, error.code(), error.to_string());
        if let Err(store_error) = self.inner.executor.store().append_one(event).await {
            tracing::error!(session_id, error = %store_error, "chat error not logged");
        }
    }

    /// The enabled plugins as tools, by tool name.
    fn tools(&self, exclude: &[String]) -> BTreeMap<String, Arc<PluginEntry>> {
        let mut tools = BTreeMap::new();
        for entry in self.inner.executor.plugins().list() {
            if !entry.is_enabled() || exclude.iter().any(|e| e == entry.name()) {
                continue;
            }
            tools.entry(tool_name(entry.name())).or_insert(entry);
        }
        tools
    }

    /// The tool loop: model call, tool calls run in parallel, results fed back, until a
    /// reply, client tool calls, or the step limit.
    async fn run_loop(&self, input: LoopInput, tx: &Sender) -> Result<LoopOutcome, ChatError> {
        let chain = self.inner.chain.as_ref().ok_or(ChatError::NoModel)?;
        let LoopInput {
            session_id,
            mut messages,
            exclude,
            client_tools,
            tool_choice,
            extra,
            stream,
        } = input;
        let client_names: HashSet<String> = client_tools
            .iter()
            .map(|t| t.function.name.clone())
            .collect();
        let ours: BTreeMap<String, Arc<PluginEntry>> = self
            .tools(&exclude)
            .into_iter()
            .filter(|(name, _)| !client_names.contains(name))
            .collect();
        let mut specs: Vec<ToolSpec> = ours
            .iter()
            .map(|(name, entry)| {
                let definition = codex_host::tools::tool_definition(entry);
                ToolSpec {
                    kind: "function".to_owned(),
                    function: crate::openai::FunctionSpec {
                        name: name.clone(),
                        description: Some(definition.function.description),
                        parameters: Some(definition.function.parameters),
                    },
                }
            })
            .collect();
        specs.extend(client_tools);
        let mut steps = Vec::new();
        let mut usage = Usage::default();
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
            let (message, used) = call_model(chain, &request, Some(tx)).await?;
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
            let results = self
                .run_tools(&session_id, &ours, &mine, &mut steps, tx)
                .await?;
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

    /// Runs the model's calls to our plugins in parallel; answers the `tool` messages.
    async fn run_tools(
        &self,
        session_id: &str,
        tools: &BTreeMap<String, Arc<PluginEntry>>,
        calls: &[ToolCall],
        steps: &mut Vec<Step>,
        tx: &Sender,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let mut logged = Vec::new();
        let mut runs = Vec::new();
        for call in calls {
            let arguments = parse_arguments(&call.function.arguments);
            let entry = tools.get(&call.function.name);
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
            let step = Step::ToolCall {
                id: call.id.clone(),
                plugin: plugin.clone(),
                arguments: shown,
            };
            let _ = tx.send(Progress::Step(step.clone()));
            steps.push(step);
            let executor = self.inner.executor.clone();
            let entry = entry.cloned();
            let session_id = session_id.to_owned();
            let id = call.id.clone();
            runs.push(async move {
                let outcome: Result<Result<Value, String>, ChatError> = match (entry, arguments) {
                    (None, _) => Ok(Err(format!("unknown tool '{plugin}'"))),
                    (Some(_), Err(error)) => Ok(Err(error)),
                    (Some(entry), Ok(arguments)) => {
                        let input = codex_host::tools::tool_input(&entry, arguments);
                        let request = ExecutionRequest::new(entry.info.name.clone(), input)
                            .with_session(session_id);
                        match executor.execute(request, ExecutionSource::Chat).await {
                            Ok(logged) => Ok(Ok(logged.execution.result)),
                            Err(ExecuteError::Plugin { error, .. }) => Ok(Err(error.to_string())),
                            Err(ExecuteError::InvalidSession(e)) => {
                                Err(ChatError::InvalidSession(e))
                            }
                            Err(ExecuteError::Store(e)) => Err(ChatError::Store(e)),
                        }
                    }
                };
                (id, plugin, outcome)
            });
        }
        self.inner
            .executor
            .store()
            .append(logged)
            .await
            .map_err(ChatError::Store)?;
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
        self.inner
            .executor
            .store()
            .append(events)
            .await
            .map_err(ChatError::Store)?;
        Ok(results)
    }

    /// `/v1/chat/completions`, collected into one response (usage always included).
    pub async fn complete(
        &self,
        session_id: &str,
        request: ChatCompletionRequest,
    ) -> Result<ChatCompletionResponse, ChatError> {
        let mut chunks = self.completion_chunks(session_id.to_owned(), request, true);
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
        let include_usage = request
            .stream_options
            .as_ref()
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.completion_chunks(session_id, request, include_usage)
    }

    fn completion_chunks(
        &self,
        session_id: String,
        request: ChatCompletionRequest,
        include_usage: bool,
    ) -> BoxStream<'static, Result<ChatCompletionChunk, ChatError>> {
        let chat = self.clone();
        async_stream::stream! {
            if let Err(error) = codex_store::validate_session_id(&session_id) {
                yield Err(ChatError::InvalidSession(error));
                return;
            }
            if request.messages.is_empty() {
                yield Err(ChatError::BadRequest("`messages` must not be empty".to_owned()));
                return;
            }
            if chat.inner.chain.is_none() {
                yield Err(ChatError::NoModel);
                return;
            }
            let model = request
                .model
                .clone()
                .or_else(|| chat.models().into_iter().next())
                .unwrap_or_default();
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
            let mut messages = request.messages;
            if !messages.iter().any(|m| m.role == "system" || m.role == "developer") {
                messages.insert(0, ChatMessage::system(&chat.inner.config.system_prompt));
            }
            if let Some(last) = messages.last().filter(|m| m.role == "user") {
                let text = last.text_content();
                if let Err(error) = chat.append(NewEvent::message(&session_id, Role::User, text)).await {
                    yield Err(error);
                    return;
                }
            }
            let input = LoopInput {
                session_id: session_id.clone(),
                messages,
                exclude: Vec::new(),
                client_tools: request.tools.unwrap_or_default(),
                tool_choice: request.tool_choice,
                extra: request.extra,
                stream: request.stream == Some(true),
            };
            let (tx, mut rx) = mpsc::unbounded_channel();
            let work = chat.run_loop(input, &tx);
            tokio::pin!(work);
            let result = loop {
                let next = tokio::select! {
                    biased;
                    Some(progress) = rx.recv() => Err(progress),
                    result = &mut work => Ok(result),
                };
                match next {
                    Err(Progress::Delta(text)) => {
                        yield Ok(chunk(Delta { content: Some(text), ..Delta::default() }, None, None));
                    }
                    Err(Progress::Step(_)) => {}
                    Ok(result) => break result,
                }
            };
            while let Ok(progress) = rx.try_recv() {
                if let Progress::Delta(text) = progress {
                    yield Ok(chunk(Delta { content: Some(text), ..Delta::default() }, None, None));
                }
            }
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

/// One model call through the chain; text deltas go to `tx` as they arrive.
async fn call_model(
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

fn progress_event(progress: Progress) -> Option<TurnEvent> {
    match progress {
        Progress::Delta(text) => Some(TurnEvent::Delta { text }),
        Progress::Step(step) => TurnEvent::from_step(&step),
    }
}

/// Tool names must match `^[a-zA-Z0-9_-]{1,64}$`.
fn tool_name(plugin: &str) -> String {
    let name: String = plugin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "_".to_owned()
    } else {
        name
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_sanitised() {
        assert_eq!(
            tool_name("time__get_current_time"),
            "time__get_current_time"
        );
        assert_eq!(tool_name("a.b c"), "a_b_c");
        assert_eq!(tool_name(&"x".repeat(80)).len(), 64);
    }

    #[test]
    fn events_serialise_with_their_names() {
        let done = TurnEvent::Done(TurnReply {
            reply: "hi".into(),
            session_id: "s".into(),
            steps: vec![Step::Reply { text: "hi".into() }],
        });
        assert_eq!(done.name(), "done");
        let value = serde_json::to_value(&done).unwrap();
        assert_eq!(value["reply"], "hi");
        assert_eq!(value["steps"][0]["type"], "reply");
        let error = ChatError::NoModel;
        assert_eq!(error.code(), "no_model");
    }
}
