//! One supervised MCP server and the plugins standing for its tools.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use codex_plugin::{
    ExecContext, Plugin, PluginError, PluginInfo, PluginKind, Progress, ProgressSink,
};
use futures::StreamExt;
use parking_lot::Mutex;
use rmcp::handler::client::progress::{ProgressDispatcher, ProgressSubscriber};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, ContentBlock, ProgressNotificationParam, RequestId, ServerResult,
};
use rmcp::service::PeerRequestOptions;
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, Peer, RoleClient, ServiceError, ServiceExt};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::{McpServerConfig, Transport};
use super::{group_id, plugin_name};
use crate::manager::WeakManager;
use crate::registry::LoadError;
use crate::telemetry;

/// The first wait before a restart; it doubles after each failed start up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A server that ran this long before dying starts again from [`FIRST_BACKOFF`].
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long the handshake and the first tool listing may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a server's stderr is kept for error messages.
const STDERR_TAIL: usize = 2048;

/// What the tools of one server share: the live connection, or why there is none.
struct Shared {
    name: String,
    config: McpServerConfig,
    peer: Mutex<Option<Peer<RoleClient>>>,
    /// Why the server is not running (shown by its tools meanwhile).
    down_because: Mutex<String>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    /// Routes the server's `notifications/progress` to the call whose request carried
    /// their token.
    progress: ProgressDispatcher,
}

impl Shared {
    fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock();
        let (a, b) = tail.as_slices();
        let text = String::from_utf8_lossy(&[a, b].concat()).trim().to_owned();
        if text.is_empty() {
            text
        } else {
            format!("; stderr: {text}")
        }
    }
}

/// Runs one MCP server for as long as the manager lives: started at once, restarted with
/// backoff when it dies, stopped (child process killed) by [`Supervisor::stop`].
pub(crate) struct Supervisor {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Supervisor {
    /// Starts supervising `config` under `name`; its tools are published into `manager`.
    pub fn start(name: &str, config: McpServerConfig, manager: WeakManager) -> Supervisor {
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            config,
            peer: Mutex::new(None),
            down_because: Mutex::new("the server is starting".to_owned()),
            stderr: Arc::new(Mutex::new(VecDeque::new())),
            progress: ProgressDispatcher::new(),
        });
        let task = tokio::spawn(supervise(shared, manager, stop.clone()));
        Supervisor { stop, task }
    }

    /// Stops the server and waits for its child process to be gone.
    pub async fn stop(self) {
        self.stop.cancel();
        if tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .is_err()
        {
            tracing::warn!("an MCP server did not stop within 10 s");
        }
    }
}

/// Tells the supervisor when the server says its tool list changed, and hands progress
/// notifications to the calls waiting for them.
struct Handler {
    tools_changed: Arc<Notify>,
    progress: ProgressDispatcher,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.handle_notification(params).await;
    }
}

type Running = RunningService<RoleClient, Handler>;

async fn supervise(shared: Arc<Shared>, manager: WeakManager, stop: CancellationToken) {
    let group = group_id(&shared.name);
    if let Err(error) = shared.config.validate() {
        publish(&manager, &group, Vec::new(), Some(error)).await;
        return;
    }
    let restart_delays = ExponentialBuilder::new()
        .with_min_delay(FIRST_BACKOFF)
        .with_max_delay(MAX_BACKOFF)
        .with_factor(2.0)
        .without_max_times();
    let mut delays = restart_delays.build();
    let mut published = false;
    telemetry::mcp_server_up(&shared.name, false);
    loop {
        let started = Instant::now();
        let tools_changed = Arc::new(Notify::new());
        let connected = tokio::select! {
            connected = tokio::time::timeout(START_TIMEOUT, connect(&shared, tools_changed.clone())) => connected,
            _ = stop.cancelled() => return,
        };
        let error = match connected {
            Ok(Ok(running)) => {
                match serve(&shared, &manager, &group, running, &tools_changed, &stop).await {
                    Served::Stopped => {
                        telemetry::mcp_server_up(&shared.name, false);
                        return;
                    }
                    Served::Died(why) => {
                        published = true;
                        why
                    }
                }
            }
            Ok(Err(e)) => e,
            Err(_) => format!("did not start within {} s", START_TIMEOUT.as_secs()),
        };
        let error = format!(
            "MCP server '{}': {error}{}",
            shared.name,
            shared.stderr_tail()
        );
        tracing::warn!(server = %shared.name, %error, "MCP server down; restarting");
        telemetry::mcp_server_up(&shared.name, false);
        telemetry::mcp_server_restarted(&shared.name);
        *shared.down_because.lock() = error.clone();
        if !published {
            // It never listed its tools: a load error, and no plugins yet.
            publish(&manager, &group, Vec::new(), Some(error)).await;
        }
        if started.elapsed() > STABLE_AFTER {
            delays = restart_delays.build();
        }
        let delay = delays.next().unwrap_or(MAX_BACKOFF);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return,
        }
    }
}

enum Served {
    Stopped,
    Died(String),
}

/// Lists the tools, publishes them, and keeps them fresh until the server dies or `stop`.
async fn serve(
    shared: &Arc<Shared>,
    manager: &WeakManager,
    group: &str,
    running: Running,
    tools_changed: &Notify,
    stop: &CancellationToken,
) -> Served {
    let peer = running.peer().clone();
    let cancel = running.cancellation_token();
    let mut waiting = tokio::spawn(running.waiting());
    let mut refresh = true;
    loop {
        if refresh {
            match tokio::time::timeout(START_TIMEOUT, peer.list_all_tools()).await {
                Ok(Ok(tools)) => {
                    let plugins = tools
                        .into_iter()
                        .filter(|t| shared.config.allows(&t.name))
                        .map(|t| Arc::new(McpTool::new(shared.clone(), t)) as Arc<dyn Plugin>)
                        .collect();
                    *shared.peer.lock() = Some(peer.clone());
                    telemetry::mcp_server_up(&shared.name, true);
                    publish(manager, group, plugins, None).await;
                    tracing::info!(server = %shared.name, "MCP server tools listed");
                }
                Ok(Err(e)) => {
                    cancel.cancel();
                    let _ = waiting.await;
                    *shared.peer.lock() = None;
                    return Served::Died(format!("tools/list failed: {e}"));
                }
                Err(_) => {
                    cancel.cancel();
                    let _ = waiting.await;
                    *shared.peer.lock() = None;
                    return Served::Died("tools/list did not answer".to_owned());
                }
            }
        }
        tokio::select! {
            _ = tools_changed.notified() => refresh = true,
            quit = &mut waiting => {
                *shared.peer.lock() = None;
                return Served::Died(format!("the server exited ({quit:?})"));
            }
            _ = stop.cancelled() => {
                *shared.peer.lock() = None;
                cancel.cancel();
                // Closing the transport kills the child process (and waits for it).
                let _ = waiting.await;
                return Served::Stopped;
            }
        }
    }
}

/// Starts the process (or opens the HTTP session) and does the MCP handshake.
async fn connect(shared: &Shared, tools_changed: Arc<Notify>) -> Result<Running, String> {
    let handler = Handler {
        tools_changed,
        progress: shared.progress.clone(),
    };
    let config = &shared.config;
    match config.validate()? {
        Transport::Stdio { command } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(&config.args).envs(&config.env).kill_on_drop(true);
            if let Some(cwd) = &config.cwd {
                cmd.current_dir(cwd);
            }
            let (transport, stderr) = TokioChildProcess::builder(cmd)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run '{command}': {e}"))?;
            shared.stderr.lock().clear();
            if let Some(mut stderr) = stderr {
                let tail = shared.stderr.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stderr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let mut tail = tail.lock();
                        tail.extend(&buf[..n]);
                        while tail.len() > STDERR_TAIL {
                            tail.pop_front();
                        }
                    }
                });
            }
            handler
                .serve(transport)
                .await
                .map_err(|e| format!("handshake failed: {e}"))
        }
        Transport::Http { url } => {
            let mut http = StreamableHttpClientTransportConfig::with_uri(url);
            for (name, value) in &config.headers {
                let header = name
                    .parse()
                    .map_err(|e| format!("headers: bad name '{name}': {e}"))?;
                let value = value
                    .parse()
                    .map_err(|e| format!("headers: bad value for '{name}': {e}"))?;
                http.custom_headers.insert(header, value);
            }
            let transport = StreamableHttpClientTransport::from_config(http);
            handler
                .serve(transport)
                .await
                .map_err(|e| format!("handshake with {url} failed: {e}"))
        }
    }
}

async fn publish(
    manager: &WeakManager,
    group: &str,
    plugins: Vec<Arc<dyn Plugin>>,
    error: Option<String>,
) {
    let Some(manager) = manager.upgrade() else {
        return;
    };
    let error = error.map(|error| LoadError {
        file: group.to_owned(),
        plugin: None,
        error,
    });
    manager
        .replace_group(group, PluginKind::Mcp, plugins, error)
        .await;
}

/// One tool of one MCP server, as a plugin.
struct McpTool {
    info: PluginInfo,
    /// The tool's name on the server (the plugin name may differ, see [`plugin_name`]).
    tool: String,
    server: Arc<Shared>,
}

impl McpTool {
    fn new(server: Arc<Shared>, tool: rmcp::model::Tool) -> Self {
        let description = tool
            .description
            .as_deref()
            .or(tool.title.as_deref())
            .unwrap_or_default()
            .to_owned();
        let info = PluginInfo::new(plugin_name(&server.name, &tool.name))
            .with_description(description)
            .with_category("mcp")
            .with_author(format!("MCP server '{}'", server.name))
            .with_input_schema(Value::Object((*tool.input_schema).clone()));
        McpTool {
            info,
            tool: tool.name.into_owned(),
            server,
        }
    }
}

#[async_trait]
impl Plugin for McpTool {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, data: Value, ctx: &ExecContext) -> codex_plugin::Result<Value> {
        let arguments = match data {
            Value::Null => None,
            Value::Object(map) => Some(map),
            Value::String(text) => match serde_json::from_str(&text) {
                Ok(Value::Object(map)) => Some(map),
                _ => {
                    return Err(PluginError::invalid_input(
                        "an MCP tool takes a JSON object of arguments",
                    ));
                }
            },
            _ => {
                return Err(PluginError::invalid_input(
                    "an MCP tool takes a JSON object of arguments",
                ));
            }
        };
        let Some(peer) = self.server.peer.lock().clone() else {
            return Err(PluginError::Crashed(format!(
                "{} (restarting)",
                self.server.down_because.lock()
            )));
        };
        let mut params = CallToolRequestParams::new(self.tool.clone());
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        // The request's trace reaches the server in `_meta` (MCP's place for W3C trace context).
        if let Some(trace) = codex_plugin::trace::current() {
            let mut meta = rmcp::model::RequestMetaObject::new();
            meta.set_traceparent(trace.traceparent());
            params.meta = Some(meta);
        }
        let timeout = self.server.config.timeout();
        // Dropping the call (timeout, or the caller giving up) sends
        // `notifications/cancelled` for it: rmcp does for `call_tool`, and
        // `call_reporting_progress` does the same.
        let result = tokio::select! {
            result = tokio::time::timeout(timeout, async {
                match &ctx.progress {
                    Some(sink) => self.call_reporting_progress(&peer, params, sink).await,
                    None => peer.call_tool(params).await,
                }
            }) => result,
            _ = ctx.cancel.cancelled() => return Err(PluginError::Cancelled),
        };
        match result {
            Err(_) => Err(PluginError::Timeout {
                plugin: self.info.name.clone(),
                after: timeout,
            }),
            Ok(Err(ServiceError::McpError(e))) => Err(PluginError::Failed(e.message.into_owned())),
            Ok(Err(e @ (ServiceError::TransportClosed | ServiceError::TransportSend(_)))) => {
                Err(PluginError::Crashed(format!(
                    "MCP server '{}' went away during the call: {e}{}",
                    self.server.name,
                    self.server.stderr_tail()
                )))
            }
            Ok(Err(e)) => Err(PluginError::Failed(e.to_string())),
            Ok(Ok(result)) => to_value(result),
        }
    }
}

/// How long reports that the server sent just before its result may still take to come
/// through: rmcp hands each notification to a task of its own, so the last one can be
/// behind the result by a moment.
const TRAILING_PROGRESS: Duration = Duration::from_millis(25);

impl McpTool {
    /// `tools/call` with the server's `notifications/progress` for it handed to `sink`.
    /// rmcp gives every request a progress token of its own; the reports for that token
    /// are forwarded until the result is in.
    async fn call_reporting_progress(
        &self,
        peer: &Peer<RoleClient>,
        params: CallToolRequestParams,
        sink: &ProgressSink,
    ) -> Result<CallToolResult, ServiceError> {
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let handle = peer
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await?;
        let subscriber = self
            .server
            .progress
            .subscribe(handle.progress_token.clone())
            .await;
        let done = CancellationToken::new();
        let forwarding = Forwarding {
            done: done.clone(),
            task: tokio::spawn(forward_progress(subscriber, sink.clone(), done)),
        };
        let mut abandoned = CancelOnDrop(Some((peer.clone(), handle.id.clone())));
        let response = handle.await_response().await;
        abandoned.0 = None;
        forwarding.finish().await;
        match response? {
            ServerResult::CallToolResult(result) => Ok(result),
            _ => Err(ServiceError::UnexpectedResponse),
        }
    }
}

/// Sends `notifications/cancelled` for a request whose caller stopped waiting for it.
struct CancelOnDrop(Option<(Peer<RoleClient>, RequestId)>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some((peer, id)) = self.0.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let reason = Some("the call was cancelled".to_owned());
                let _ = peer
                    .notify_cancelled(CancelledNotificationParam::new(Some(id), reason))
                    .await;
            });
        }
    }
}

/// Hands an MCP server's progress reports to a call's sink (`progress / total` as the
/// fraction when the server says the total, and its message), until the call is `done`
/// and no report came for [`TRAILING_PROGRESS`].
async fn forward_progress(
    mut reports: ProgressSubscriber,
    sink: ProgressSink,
    done: CancellationToken,
) {
    loop {
        let report = tokio::select! {
            report = reports.next() => report,
            () = done.cancelled() => {
                match tokio::time::timeout(TRAILING_PROGRESS, reports.next()).await {
                    Ok(report) => report,
                    Err(_) => return,
                }
            }
        };
        let Some(report) = report else {
            return;
        };
        let fraction = report
            .total
            .filter(|total| *total > 0.0)
            .map(|total| report.progress / total);
        sink(Progress::new(fraction, report.message));
    }
}

/// The task forwarding one call's progress; [`Forwarding::finish`] lets it take the
/// trailing reports, and dropping it (the call abandoned) stops it.
struct Forwarding {
    done: CancellationToken,
    task: JoinHandle<()>,
}

impl Forwarding {
    async fn finish(mut self) {
        self.done.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A tool result as a plugin result: `isError` is a failure with the server's text;
/// otherwise the structured content when present, else the text when all content is
/// text, else the content blocks as JSON.
fn to_value(result: CallToolResult) -> codex_plugin::Result<Value> {
    let text = || {
        result
            .content
            .iter()
            .filter_map(ContentBlock::as_text)
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    if result.is_error == Some(true) {
        let message = text();
        return Err(PluginError::raised(
            None,
            if message.is_empty() {
                "the MCP tool reported an error".to_owned()
            } else {
                message
            },
        ));
    }
    if let Some(structured) = result.structured_content {
        return Ok(structured);
    }
    if result.content.iter().all(|c| c.as_text().is_some()) {
        return Ok(Value::String(text()));
    }
    serde_json::to_value(&result.content).map_err(|e| PluginError::failed(e.to_string()))
}
