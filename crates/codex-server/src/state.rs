//! The shared state every handler receives: one `Clone` struct of `Arc`s built in `main`.

use std::sync::Arc;
use std::time::Instant;

use codex_host::PluginManager;

/// HTTP settings, validated by the binary.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// When not empty, every route but `/health` needs one of these as a bearer token
    /// or `X-API-Key`.
    pub api_keys: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1024 * 1024,
            api_keys: Vec::new(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub plugins: PluginManager,
    pub config: Arc<ServerConfig>,
    pub started: Instant,
}

impl AppState {
    pub fn new(plugins: PluginManager, config: ServerConfig) -> Self {
        AppState {
            plugins,
            config: Arc::new(config),
            started: Instant::now(),
        }
    }
}
