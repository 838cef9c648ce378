//! CodexContinue as an MCP server: the enabled plugins offered as MCP tools, over stdio
//! (`codexcontinue mcp`) or streamable HTTP (`/mcp` on the main server).
//!
//! Tools are dynamic (plugins come and go with reloads), so [`McpServer`] implements
//! `rmcp::ServerHandler` by hand rather than through the `#[tool]` macros. Every call goes
//! through the [`Executor`], so it is logged in the event store like any other execution.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::ORIGIN;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use codex_agent::{ExecuteError, Executor};
use codex_host::ExecutionRequest;
use codex_host::tools::{ToolDefinition, Toolbox};
use codex_plugin::{PluginError, Progress};
use codex_store::ExecutionSource;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::access::{Caller, SessionOwners};
use crate::error::ApiError;
use crate::state::AppState;

/// The session a call is logged under when the transport has no session id (stdio).
pub const DEFAULT_SESSION: &str = "mcp";

/// The MCP side of CodexContinue: one per connection (stdio) or per session (HTTP).
/// Cheap to clone.
#[derive(Clone)]
pub struct McpServer {
    executor: Executor,
    /// Session ownership over HTTP; stdio has one local user and no owners.
    owners: Option<Arc<SessionOwners>>,
}

impl McpServer {
    pub fn new(executor: Executor) -> Self {
        McpServer {
            executor,
            owners: None,
        }
    }

    /// Checks (and claims) the MCP session a call is logged under for the caller's key.
    pub fn with_owners(mut self, owners: Arc<SessionOwners>) -> Self {
        self.owners = Some(owners);
        self
    }

    /// The enabled (and available) plugins as MCP tools, by tool name: the same
    /// [`Toolbox`] a chat turn offers a model.
    pub fn tools(&self) -> Vec<Tool> {
        self.tools_for(&Caller::open())
    }

    /// The tools `caller` is granted.
    fn tools_for(&self, caller: &Caller) -> Vec<Tool> {
        let plugins = self.executor.plugins();
        plugins
            .toolbox(&caller.not_granted(plugins))
            .definitions()
            .into_iter()
            .map(tool)
            .collect()
    }

    async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let name = request.name.to_string();
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        // A tool name goes back to its plugin through the toolbox; any other name goes to
        // the executor as is, which answers `NotFound` or `Disabled` and logs the attempt,
        // like any other failed call.
        let (plugin, data) = match self.executor.plugins().toolbox::<&str>(&[]).resolve(&name) {
            Some(entry) => (entry.name().to_owned(), Toolbox::input(entry, arguments)),
            None => (name.clone(), arguments),
        };
        // The same rules as HTTP's: a plugin the key is not granted is not run (nor logged),
        // and a session of another key is not written to.
        let caller = caller(&context);
        if !caller.may_run(&plugin) {
            return Err(ErrorData::invalid_params(
                format!("this key is not granted the tool: {name}"),
                None,
            ));
        }
        let session_id = session_id(&context);
        if let Some(owners) = &self.owners
            && let Err(error) = owners.check_write(&caller, &session_id).await
        {
            return Err(ErrorData::invalid_params(error.to_string(), None));
        }
        let token = request
            .meta
            .as_ref()
            .and_then(|meta| meta.get_progress_token())
            .or_else(|| context.meta.get_progress_token());
        let mut execution = ExecutionRequest::new(plugin, data)
            .with_session(session_id)
            .with_actor(caller.actor());
        // A client's `notifications/cancelled` cancels the call's token.
        execution.cancel = context.ct.child_token();
        // A client that sent a progress token gets the plugin's reports as
        // `notifications/progress`, all of them before the result.
        let forwarder = token.map(|token| {
            let (reports, queued) = mpsc::unbounded_channel();
            execution.progress = Some(Arc::new(move |report: Progress| {
                let _ = reports.send(report);
            }));
            let done = CancellationToken::new();
            let task = tokio::spawn(forward_progress(
                context.peer.clone(),
                token,
                queued,
                done.clone(),
            ));
            (done, task)
        });
        let outcome = self.executor.execute(execution, ExecutionSource::Mcp).await;
        if let Some((done, task)) = forwarder {
            done.cancel();
            let _ = task.await;
        }
        match outcome {
            Ok(logged) => Ok(CallToolResult::structured(structured(
                logged.execution.result,
            ))),
            Err(ExecuteError::Plugin { error, .. }) => match error {
                PluginError::NotFound { .. } | PluginError::Disabled(_) => Err(
                    ErrorData::invalid_params(format!("unknown tool: {name}"), None),
                ),
                error => Ok(CallToolResult::error(vec![ContentBlock::text(
                    error.to_string(),
                )])),
            },
            Err(error @ (ExecuteError::InvalidSession(_) | ExecuteError::RunIdInUse(_))) => {
                Err(ErrorData::invalid_params(error.to_string(), None))
            }
            Err(ExecuteError::Store(error)) => {
                tracing::error!(plugin = %name, error = %error, "mcp call not logged");
                Err(ErrorData::internal_error("the event store failed", None))
            }
        }
    }
}

/// Sends a call's progress reports to the client as `notifications/progress` for `token`
/// until `done`, then those still queued. A report with a fraction is sent as
/// `progress: fraction, total: 1`; one without, as the count of reports so far, which
/// keeps `progress` increasing as the protocol asks.
async fn forward_progress(
    peer: Peer<RoleServer>,
    token: ProgressToken,
    mut queued: mpsc::UnboundedReceiver<Progress>,
    done: CancellationToken,
) {
    let mut sent = 0.0;
    loop {
        let report = tokio::select! {
            biased;
            Some(report) = queued.recv() => report,
            () = done.cancelled() => match queued.try_recv() {
                Ok(report) => report,
                Err(_) => return,
            },
        };
        sent += 1.0;
        let mut notification = match report.fraction {
            Some(fraction) => {
                ProgressNotificationParam::new(token.clone(), fraction).with_total(1.0)
            }
            None => ProgressNotificationParam::new(token.clone(), sent),
        };
        if let Some(message) = report.message {
            notification = notification.with_message(message);
        }
        if peer.notify_progress(notification).await.is_err() {
            return;
        }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new(
            "codexcontinue",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions("CodexContinue's enabled plugins, each offered as a tool.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.tools_for(&caller(&context)),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(request, context).await.map(Into::into)
    }

    /// Once the client is ready, tell it whenever the plugin list changes (a reload, an
    /// enable or a disable), until the connection is gone.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut generation = self.executor.plugins().subscribe();
        generation.mark_unchanged();
        let peer = context.peer;
        tokio::spawn(async move {
            while generation.changed().await.is_ok() {
                if peer.is_transport_closed() {
                    break;
                }
                if let Err(error) = peer.notify_tool_list_changed().await {
                    tracing::debug!(error = %error, "mcp peer gone, list_changed not sent");
                    break;
                }
            }
        });
    }
}

/// The MCP tool for a plugin: its model tool definition (a non-object input schema is
/// wrapped as `{data}`), so MCP clients and models see the same shape.
fn tool(definition: ToolDefinition) -> Tool {
    let schema = match definition.function.parameters {
        Value::Object(map) => map,
        _ => JsonObject::from_iter([("type".to_owned(), json!("object"))]),
    };
    Tool::new(
        definition.function.name,
        definition.function.description,
        Arc::new(schema),
    )
}

/// MCP structured content must be an object; anything else is wrapped as `{result}`.
fn structured(result: Value) -> Value {
    match result {
        Value::Object(_) => result,
        other => json!({ "result": other }),
    }
}

/// Who sent an MCP request: over HTTP, the caller the auth layer put on the request (none
/// found is nobody, granted nothing); over stdio, the local user, who may do everything.
fn caller(context: &RequestContext<RoleServer>) -> Arc<Caller> {
    match context.extensions.get::<Parts>() {
        Some(parts) => parts
            .extensions
            .get::<Arc<Caller>>()
            .cloned()
            .unwrap_or_else(|| Arc::new(Caller::nobody())),
        None => Arc::new(Caller::open()),
    }
}

/// The MCP session id of a streamable HTTP request, else [`DEFAULT_SESSION`].
fn session_id(context: &RequestContext<RoleServer>) -> String {
    context
        .extensions
        .get::<Parts>()
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty())
        .map_or_else(|| DEFAULT_SESSION.to_owned(), ToOwned::to_owned)
}

/// Why [`serve_stdio`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum McpServeError {
    /// The client closed the connection or spoke something else before initializing.
    #[error("MCP handshake failed: {0}")]
    Initialize(Box<rmcp::service::ServerInitializeError>),
    /// The service task panicked.
    #[error("MCP service task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Serves the enabled plugins over stdin and stdout until the client closes stdin.
/// Nothing else may write to stdout meanwhile: it is the protocol.
pub async fn serve_stdio(executor: Executor) -> Result<(), McpServeError> {
    let running = McpServer::new(executor)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| McpServeError::Initialize(Box::new(error)))?;
    let reason = running.waiting().await?;
    tracing::debug!(?reason, "mcp stdio session ended");
    Ok(())
}

/// The streamable HTTP service mounted at `/mcp`: one [`McpServer`] per session.
///
/// rmcp's own `Host` and `Origin` checks are off: [`check_origin`] does the `Origin` check
/// with our error envelope, and the main server may be bound to a public address (with API
/// keys), where a loopback-only `Host` check would refuse every request.
pub fn http_service(state: &AppState) -> StreamableHttpService<McpServer, LocalSessionManager> {
    let executor = state.executor.clone();
    let owners = state.owners.clone();
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(state.config.max_body_bytes)
        .with_cancellation_token(state.shutdown.child_token());
    StreamableHttpService::new(
        move || Ok(McpServer::new(executor.clone()).with_owners(owners.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// DNS-rebinding protection, as the MCP specification asks: a request with an `Origin`
/// that is not a loopback host (any port) nor in `mcp_allowed_origins` is refused with
/// 403. A request without `Origin` (not from a browser) passes.
pub async fn check_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(ORIGIN)
        .map(|v| v.to_str().unwrap_or(""));
    match origin {
        Some(origin) if !origin_allowed(origin, &state.config.mcp_allowed_origins) => {
            ApiError::OriginNotAllowed(origin.to_owned()).into_response()
        }
        _ => next.run(request).await,
    }
}

fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let serialized = url.origin().ascii_serialization();
    let listed = allowed.iter().any(|allowed| {
        url::Url::parse(allowed).is_ok_and(|a| a.origin().ascii_serialization() == serialized)
    });
    listed
        || match url.host() {
            Some(url::Host::Domain(domain)) => domain == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    fn check(origin: &str, allowed: &[&str], expected: bool) {
        let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(origin_allowed(origin, &allowed), expected, "{origin}");
    }

    #[test]
    fn loopback_origins_pass_on_any_port() {
        check("http://localhost", &[], true);
        check("http://localhost:3000", &[], true);
        check("https://127.0.0.1:8443", &[], true);
        check("http://[::1]:8080", &[], true);
    }

    #[test]
    fn other_origins_are_refused_unless_allowed() {
        check("http://evil.example", &[], false);
        check("http://localhost.evil.example", &[], false);
        check("http://127.0.0.1.evil.example:80", &[], false);
        check("null", &[], false);
        check("file://localhost", &[], false);
        check(
            "https://app.example.com",
            &["https://app.example.com"],
            true,
        );
        check(
            "https://app.example.com",
            &["https://app.example.com/"],
            true,
        );
        check(
            "https://other.example.com",
            &["https://app.example.com"],
            false,
        );
    }
}
