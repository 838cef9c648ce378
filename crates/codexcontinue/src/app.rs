//! Builds the application from checked settings: the event store, the plugin manager with the
//! built-in plugins and every runtime compiled in, and the executor that logs every run.

use std::sync::Arc;

use anyhow::Context;
use codex_agent::chat::Chat;
use codex_agent::plugins::ChatHandle;
use codex_agent::{Executor, StoreMemory};
use codex_host::{NativePlugin, PluginManager};
use codex_plugin::MemoryView;
use codex_store::{EventStore, StoreOptions};
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, Settings};

/// Opens the store (applying pending migrations), starts the plugin manager with the store as
/// memory, and answers the executor over both.
pub async fn executor(settings: &Settings) -> anyhow::Result<Executor> {
    let store = connect_store(settings).await?;
    let memory = StoreMemory::new(store.clone(), settings.server.short_limit);
    // `llm` and `agent` need the chat, which needs the manager: they get a handle filled below.
    let handle = ChatHandle::new();
    let manager = plugin_manager(
        settings,
        Some(Arc::new(memory)),
        codex_agent::plugins::model_plugins(&handle),
    )
    .await;
    let executor = Executor::new(manager, store);
    handle.set(chat(settings, &executor));
    Ok(executor)
}

/// Chat turns over `executor` with the configured model chain and short memory.
pub fn chat(settings: &Settings, executor: &Executor) -> Chat {
    Chat::new(
        executor.clone(),
        settings.model.clone(),
        settings.server.short_limit,
    )
}

/// Opens the store at the configured URL and applies pending migrations.
pub async fn connect_store(settings: &Settings) -> anyhow::Result<Arc<dyn EventStore>> {
    let options =
        StoreOptions::default().with_sqlite_durability(settings.sqlite_synchronous.durability());
    codex_store::connect(&settings.database_url, options)
        .await
        .with_context(|| format!("cannot open the database {}", database_label(settings)))
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

/// Starts the plugin manager: built-ins, then the plugins folder.
pub async fn plugin_manager(
    settings: &Settings,
    memory: Option<Arc<dyn MemoryView>>,
    extra: Vec<NativePlugin>,
) -> PluginManager {
    let natives = codex_builtins::builtins().into_iter().chain(extra);
    let mut builder = PluginManager::builder(settings.host.clone()).with_natives(natives);
    if let Some(memory) = memory {
        builder = builder.with_memory(memory);
    }
    #[cfg(feature = "huggingface")]
    if let Some(plugin) = huggingface(settings) {
        builder = builder.with_native(plugin, true);
    }
    #[cfg(feature = "python")]
    {
        let options = codex_host::python::PythonOptions {
            interpreter: settings.python.interpreter.clone(),
            pool_size: settings.python.pool_size,
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
    builder.start().await
}

/// The `huggingface` plugin, when `[plugins.huggingface.config]` names a model folder.
/// A bad config is logged and the plugin left out; the server still starts.
#[cfg(feature = "huggingface")]
fn huggingface(settings: &Settings) -> Option<Arc<dyn codex_plugin::Plugin>> {
    use codex_builtins::huggingface::HuggingFacePlugin;
    let config = settings.host.plugins.get("huggingface")?.config.as_ref()?;
    match HuggingFacePlugin::from_config(config) {
        Ok(plugin) => Some(Arc::new(plugin)),
        Err(e) => {
            tracing::error!(error = %e, "huggingface plugin not loaded");
            None
        }
    }
}

/// Logs go to stderr, so `run` and `plugins --json` keep stdout for results.
pub fn init_logging(settings: &Settings, quiet: bool) {
    let default = if quiet { "warn" } else { settings.log.as_str() };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
