//! The shared state every handler receives: one `Clone` struct of `Arc`s built in `main`.

use std::sync::Arc;
use std::time::Instant;

use codex_agent::Executor;
use codex_agent::chat::Chat;
use codex_host::PluginManager;
use codex_store::EventStore;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

/// HTTP settings, validated by the binary.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// When not empty, every route but `/health` needs one of these as a bearer token
    /// or `X-API-Key`.
    pub api_keys: Vec<String>,
    /// Messages in a session's short memory (`GET /memory`, audit counts).
    pub short_limit: usize,
    /// Browser origins allowed to call `/mcp` besides loopback ones (`http://localhost:*`,
    /// `127.0.0.1`, `[::1]`), written as sent: `https://app.example.com`.
    pub mcp_allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1024 * 1024,
            api_keys: Vec::new(),
            short_limit: codex_agent::DEFAULT_SHORT_LIMIT,
            mcp_allowed_origins: Vec::new(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub plugins: PluginManager,
    /// Runs plugins and logs every run.
    pub executor: Executor,
    /// Sessions and their event logs.
    pub store: Arc<dyn EventStore>,
    /// Chat turns and OpenAI-style completions over the executor and the model chain.
    pub chat: Chat,
    pub config: Arc<ServerConfig>,
    pub started: Instant,
    /// Cancelled when the server starts shutting down, so that long-lived responses (the
    /// `/mcp` event streams) end instead of holding the drain until its grace period.
    pub shutdown: CancellationToken,
    /// Renders the process's metrics at `/metrics`.
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// The state over `executor`'s plugin manager and store, chatting through `chat`.
    pub fn new(executor: Executor, chat: Chat, config: ServerConfig) -> Self {
        AppState {
            chat,
            plugins: executor.plugins().clone(),
            store: executor.store().clone(),
            executor,
            config: Arc::new(config),
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            metrics: crate::telemetry::install(),
        }
    }
}
