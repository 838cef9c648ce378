//! The one wiring path: store → plugin manager → executor → the one chat, and their shutdown
//! in the reverse order.
//!
//! The binary's commands (`serve`, `run`, `chat`, `mcp`) and the test harnesses all start
//! the application here, so what is tested is what runs: the built-in plugins, `llm` and
//! `agent` included, and `huggingface` (unavailable, saying what enables it, until its config
//! names a model), over a real store. The binary adds what its features compile in (the
//! Python and Wasm runtimes) through the builder.

use std::sync::Arc;

use codex_agent::chat::{Chat, ChatConfig};
use codex_agent::plugins::{ChatHandle, model_plugins};
use codex_agent::{Executor, StoreMemory};
use codex_host::{HostConfig, NativePlugin, PluginManager, Runtime};
use codex_store::{EventStore, StoreError, StoreOptions};

use crate::state::{AppState, ServerConfig};

/// What the application is built from, already validated by the binary.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// `sqlite://<path>` or `postgres://...`.
    pub database_url: String,
    pub store: StoreOptions,
    pub host: HostConfig,
    /// The `[model]` config of chat turns.
    pub model: ChatConfig,
    pub server: ServerConfig,
}

impl AppConfig {
    /// Defaults everywhere but the database and the plugins folder.
    pub fn new(database_url: impl Into<String>, host: HostConfig) -> Self {
        AppConfig {
            database_url: database_url.into(),
            store: StoreOptions::default(),
            host,
            model: ChatConfig::default(),
            server: ServerConfig::default(),
        }
    }
}

/// Builds an [`App`]: the built-in plugins always, then what the caller adds.
pub struct AppBuilder {
    config: AppConfig,
    natives: Vec<NativePlugin>,
    runtimes: Vec<Arc<dyn Runtime>>,
    load_in_background: bool,
}

impl AppBuilder {
    /// Plugins load in the background once the store is open, so that a server can listen
    /// at once (`/health` says `loading` until they are all in; a call of one not loaded
    /// yet waits for it).
    pub fn loading_in_background(mut self) -> Self {
        self.load_in_background = true;
        self
    }

    /// A native plugin besides the built-ins (a feature's, or a test's).
    pub fn with_native(mut self, plugin: NativePlugin) -> Self {
        self.natives.push(plugin);
        self
    }

    /// A runtime for plugin files (Python, Wasm).
    pub fn with_runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtimes.push(runtime);
        self
    }

    /// Opens the store (applying pending migrations), starts the plugin manager with the
    /// store as memory, then the executor and the chat. Only the store can fail: a plugin
    /// that fails to load is a load error, not a failed start.
    pub async fn start(self) -> Result<App, StoreError> {
        let store = codex_store::connect(&self.config.database_url, self.config.store).await?;
        let short_limit = self.config.server.short_limit;
        let memory = StoreMemory::new(store.clone(), short_limit);
        // `llm` and `agent` need the chat, which needs the manager: they get a handle that
        // is filled once the chat exists.
        let handle = ChatHandle::new();
        let manager = Self::manager(
            self.config.host,
            self.natives,
            self.runtimes,
            &handle,
            Some(memory),
            self.load_in_background,
        )
        .await;
        let executor = Executor::new(manager, store);
        let chat = Chat::new(executor.clone(), self.config.model, short_limit);
        handle.set(&chat);
        let state = AppState::new(executor, chat, self.config.server).await?;
        // Switches stored by any server (or the CLI) hold here before the first request.
        crate::switches::start(
            state.store.clone(),
            state.plugins.clone(),
            state.shutdown.clone(),
        )
        .await?;
        Ok(App { state })
    }

    /// The plugin manager alone, with the same plugins and runtimes but no store or model
    /// (`codexcontinue plugins` lists and describes; nothing runs).
    pub async fn start_plugins(self) -> PluginManager {
        Self::manager(
            self.config.host,
            self.natives,
            self.runtimes,
            &ChatHandle::new(),
            None,
            false,
        )
        .await
    }

    async fn manager(
        host: HostConfig,
        natives: Vec<NativePlugin>,
        runtimes: Vec<Arc<dyn Runtime>>,
        handle: &Arc<ChatHandle>,
        memory: Option<StoreMemory>,
        in_background: bool,
    ) -> PluginManager {
        // Always registered, so that it never silently vanishes (see `huggingface::builtin`).
        let huggingface = NativePlugin {
            plugin: codex_builtins::huggingface::builtin(
                host.plugins
                    .get(codex_builtins::huggingface::NAME)
                    .and_then(|settings| settings.config.as_ref()),
                host.init_timeout,
            ),
            enabled_by_default: true,
        };
        let mut builder = PluginManager::builder(host)
            .with_natives(
                codex_builtins::builtins()
                    .into_iter()
                    .map(|b| NativePlugin {
                        plugin: b.plugin,
                        enabled_by_default: b.enabled_by_default,
                    }),
            )
            .with_natives(model_plugins(handle))
            .with_natives([huggingface])
            .with_natives(natives);
        for runtime in runtimes {
            builder = builder.with_runtime(runtime);
        }
        if let Some(memory) = memory {
            builder = builder.with_memory(Arc::new(memory));
        }
        if in_background {
            builder.start_loading()
        } else {
            builder.start().await
        }
    }
}

/// The running application: what every surface (HTTP, MCP, the terminal chat, the CLI)
/// works on. Cheap to clone.
#[derive(Clone)]
pub struct App {
    state: AppState,
}

impl App {
    pub fn builder(config: AppConfig) -> AppBuilder {
        AppBuilder {
            config,
            natives: Vec::new(),
            runtimes: Vec::new(),
            load_in_background: false,
        }
    }

    /// The state the HTTP routes share.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn executor(&self) -> &Executor {
        &self.state.executor
    }

    pub fn chat(&self) -> &Chat {
        &self.state.chat
    }

    pub fn plugins(&self) -> &PluginManager {
        &self.state.plugins
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.state.store
    }

    /// Stops in the reverse order of the start: every plugin shuts down (after its calls in
    /// flight), then the store closes, so every acknowledged write is flushed.
    pub async fn shutdown(&self) {
        self.state.shutdown.cancel();
        self.state.keys.flush_last_used().await;
        self.state.plugins.shutdown().await;
        self.state.store.close().await;
    }
}
