//! Starts the application from checked settings through the one wiring path,
//! [`codex_server::App`], adding what this build compiles in: the Python and Wasm runtimes.
//! (The `huggingface` plugin is registered by the App itself, from its config table.)

use std::sync::Arc;

use anyhow::Context;
use codex_host::PluginManager;
use codex_server::{App, AppBuilder, AppConfig};
use codex_store::StoreOptions;
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, Settings};

/// Opens the store (applying pending migrations) and starts everything over it.
pub async fn start(settings: &Settings) -> anyhow::Result<App> {
    builder(settings)
        .start()
        .await
        .with_context(|| format!("cannot open the database {}", database_label(settings)))
}

/// Like [`start`], but the plugins load in the background: `serve` listens as soon as the
/// store is open.
pub async fn start_serving(settings: &Settings) -> anyhow::Result<App> {
    builder(settings)
        .loading_in_background()
        .start()
        .await
        .with_context(|| format!("cannot open the database {}", database_label(settings)))
}

/// The plugin manager alone, for listing and describing plugins without a database.
pub async fn plugins(settings: &Settings) -> PluginManager {
    builder(settings).start_plugins().await
}

fn builder(settings: &Settings) -> AppBuilder {
    let config = AppConfig {
        database_url: settings.database_url.clone(),
        store: StoreOptions::default()
            .with_sqlite_durability(settings.sqlite_synchronous.durability())
            .with_commit_delay(settings.sqlite_commit_delay)
            .with_commit_siblings(settings.sqlite_commit_siblings),
        host: settings.host.clone(),
        model: settings.model.clone(),
        server: settings.server.clone(),
    };
    #[allow(unused_mut)]
    let mut builder = App::builder(config);
    #[cfg(feature = "python")]
    {
        let options = codex_host::python::PythonOptions {
            interpreter: settings.python.interpreter.clone(),
            pool_size: settings.python.pool_size,
            envs_dir: settings.python.envs_dir.clone(),
            fork_server: settings.python.fork_server,
            pipeline: settings.python.pipeline,
            ..Default::default()
        };
        builder = builder.with_runtime(Arc::new(codex_host::python::PythonRuntime::new(options)));
    }
    #[cfg(feature = "wasm")]
    {
        let mut options = codex_host::wasm::WasmOptions {
            cache_dir: settings.wasm.cache_dir.clone(),
            ..Default::default()
        };
        if let Some(mb) = settings.wasm.memory_limit_mb {
            options.default_memory_limit_mb = mb;
        }
        builder = builder.with_runtime(Arc::new(codex_host::wasm::WasmRuntime::new(options)));
    }
    builder
}

/// The database named for messages: a SQLite path in full, a PostgreSQL URL without its
/// credentials.
pub fn database_label(settings: &Settings) -> String {
    let url = settings.database_url.as_str();
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.starts_with("postgres") => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{host}")
        }
        _ => url.to_owned(),
    }
}

/// Logs go to stderr, so `run` and `plugins --json` keep stdout for results.
pub fn init_logging(settings: &Settings, quiet: bool) {
    let default = if quiet { "warn" } else { settings.log.as_str() };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, not in files, pipes or journald.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
