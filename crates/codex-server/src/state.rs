//! The shared state every handler receives: one `Clone` struct of `Arc`s built in `main`.

use std::sync::Arc;
use std::time::Instant;

use codex_agent::Executor;
use codex_agent::chat::Chat;
use codex_host::PluginManager;
use codex_store::{EventStore, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::access::{KeyRing, ModelLimit, SessionOwners};
use crate::control::Control;

/// HTTP settings, validated by the binary.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Admin keys from the config file. When these or keys in the store exist, every route
    /// but `/health` needs a key as a bearer token or `X-API-Key`.
    pub api_keys: Vec<String>,
    /// Messages in a session's short memory (`GET /memory`, audit counts).
    pub short_limit: usize,
    /// Turns per second that may ask the model providers, across every key (`/run` commands
    /// do not count); `None`: no limit.
    pub model_rate_per_second: Option<f64>,
    /// Browser origins allowed to call `/mcp` besides loopback ones (`http://localhost:*`,
    /// `127.0.0.1`, `[::1]`), written as sent: `https://app.example.com`.
    pub mcp_allowed_origins: Vec<String>,
    /// Plugin tracebacks in error bodies, while no key is configured nor stored.
    pub debug: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1024 * 1024,
            api_keys: Vec::new(),
            short_limit: codex_agent::DEFAULT_SHORT_LIMIT,
            mcp_allowed_origins: Vec::new(),
            model_rate_per_second: None,
            debug: true,
        }
    }
}

/// What every handler shares. One `Arc`: axum clones the state for each layer a request
/// passes through (about twenty times per request), and a clone of this is one counter,
/// where a struct of a dozen handles cost a dozen (and a mutex for the token).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub struct SharedState {
    pub plugins: PluginManager,
    /// Runs plugins and logs every run.
    pub executor: Executor,
    /// Sessions and their event logs.
    pub store: Arc<dyn EventStore>,
    /// Chat turns and OpenAI-style completions over the executor and the model chain.
    pub chat: Chat,
    pub config: Arc<ServerConfig>,
    /// The keys this server accepts (config and store), and who holds them.
    pub keys: Arc<KeyRing>,
    /// Who owns which session (user keys reach only their own).
    pub owners: Arc<SessionOwners>,
    /// Cancels and approval answers for work running on another server on the database.
    pub control: Control,
    /// The one bucket of turns that ask the model providers.
    pub model_limit: Arc<ModelLimit>,
    pub started: Instant,
    /// Cancelled when the server starts shutting down, so that long-lived responses (the
    /// `/mcp` event streams) end instead of holding the drain until its grace period.
    pub shutdown: CancellationToken,
    /// Renders the process's metrics at `/metrics`.
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// The state over `executor`'s plugin manager and store, chatting through `chat`, with
    /// the keys of the config and of the store (followed until `shutdown` is cancelled).
    pub async fn new(
        executor: Executor,
        chat: Chat,
        config: ServerConfig,
    ) -> Result<Self, StoreError> {
        let shutdown = CancellationToken::new();
        let keys =
            KeyRing::start(&config.api_keys, executor.store().clone(), shutdown.clone()).await?;
        let owners = SessionOwners::start(executor.store().clone(), shutdown.clone()).await?;
        let model_limit = Arc::new(ModelLimit::new(config.model_rate_per_second));
        let control = Control::start(
            executor.store().clone(),
            executor.running().clone(),
            chat.approvals().clone(),
            owners.clone(),
            shutdown.clone(),
        )
        .await?;
        Ok(AppState(Arc::new(SharedState {
            chat,
            plugins: executor.plugins().clone(),
            store: executor.store().clone(),
            executor,
            config: Arc::new(config),
            keys,
            owners,
            control,
            model_limit,
            started: Instant::now(),
            shutdown,
            metrics: crate::telemetry::install(),
        })))
    }
}
