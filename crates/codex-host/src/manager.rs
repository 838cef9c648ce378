//! The PluginManager: builds the registry from built-in plugins and the plugins folder,
//! executes calls, switches plugins on and off, reloads and shuts down.
//!
//! This file is the core (the manager, its builder, calls and switches); loading lives in
//! [`load`], folder reloads and the one publish step in [`reload`], and run-time groups
//! (MCP servers' tools) in [`group`].

mod group;
mod load;
mod reload;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use codex_plugin::{
    ExecContext, MemoryView, NativePlugin, Plugin, PluginDirectory, PluginError, PluginSummary,
    Policy, ProgressSink,
};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::HostConfig;
use crate::guard;
use crate::mcp::{McpServerConfig, Supervisor};
use crate::registry::{LoadError, PluginEntry, Registry};
use crate::runtime::Runtime;
use crate::tools::Toolbox;

/// One call to make.
#[derive(Clone)]
pub struct ExecutionRequest {
    /// A name or an alias.
    pub plugin: String,
    pub data: Value,
    pub session_id: String,
    /// Cancelled by the caller when it stops waiting (client gone, shutdown).
    pub cancel: CancellationToken,
    /// Who asked (an API key's name), recorded with the run; `None` when no key was needed.
    pub actor: Option<String>,
    /// Where the plugin's progress reports go while it runs; `None` drops them.
    pub progress: Option<ProgressSink>,
}

impl std::fmt::Debug for ExecutionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionRequest")
            .field("plugin", &self.plugin)
            .field("data", &self.data)
            .field("session_id", &self.session_id)
            .field("actor", &self.actor)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl ExecutionRequest {
    pub fn new(plugin: impl Into<String>, data: Value) -> Self {
        ExecutionRequest {
            plugin: plugin.into(),
            data,
            session_id: "default".to_owned(),
            cancel: CancellationToken::new(),
            actor: None,
            progress: None,
        }
    }

    pub fn with_progress(mut self, progress: ProgressSink) -> Self {
        self.progress = Some(progress);
        self
    }

    pub fn with_session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = session_id.into();
        self
    }

    pub fn with_actor(mut self, actor: Option<&str>) -> Self {
        self.actor = actor.map(str::to_owned);
        self
    }
}

/// The outcome of a successful call.
#[derive(Debug, Clone)]
pub struct Execution {
    /// The canonical name (an alias resolved).
    pub plugin: String,
    pub result: Value,
    pub duration: Duration,
}

/// Owns every loaded plugin. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct PluginManager {
    inner: Arc<Inner>,
}

struct Inner {
    config: HostConfig,
    natives: Vec<NativePlugin>,
    runtimes: Vec<Arc<dyn Runtime>>,
    registry: ArcSwap<Registry>,
    /// Enable/disable decisions made at run time; they outlive reloads.
    overrides: Mutex<HashMap<String, bool>>,
    /// Approval policies chosen at run time; they outlive reloads too.
    policy_overrides: Mutex<HashMap<String, Policy>>,
    memory: Option<Arc<dyn MemoryView>>,
    directory: Arc<dyn PluginDirectory>,
    /// One change of the registry at a time (a folder reload or a group replacement).
    reload_lock: tokio::sync::Mutex<()>,
    /// Bumped after every change of the plugin list (for MCP `list_changed`, the UI).
    generation: watch::Sender<u64>,
    /// Why a run-time group (an MCP server) has no plugins right now, by group id; shown
    /// in `load_errors` beside the folder's errors.
    group_errors: Mutex<BTreeMap<String, LoadError>>,
    /// The running MCP servers, by server name.
    mcp: tokio::sync::Mutex<BTreeMap<String, Supervisor>>,
    /// The MCP servers declared by manifests in the folder, as last reloaded.
    manifest_mcp: Mutex<BTreeMap<String, McpServerConfig>>,
    /// The files each of those servers is made of (its manifest, and the `args` that are
    /// files: its script), as they were when it started: a change restarts it.
    manifest_mcp_files: Mutex<BTreeMap<String, Vec<crate::registry::FileStamp>>>,
    /// Whether the first load is done; false while [`PluginManagerBuilder::start_loading`]
    /// loads in the background.
    ready: watch::Sender<bool>,
    /// Plugin files the load in progress has to load, and has loaded (or failed) so far.
    load_total: std::sync::atomic::AtomicUsize,
    load_done: std::sync::atomic::AtomicUsize,
}

/// How far the first load is: what `/health` reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loading {
    pub loaded: usize,
    pub total: usize,
}

/// A handle that does not keep the manager alive (for tasks the manager owns).
#[derive(Clone)]
pub(crate) struct WeakManager(Weak<Inner>);

impl WeakManager {
    pub fn upgrade(&self) -> Option<PluginManager> {
        self.0.upgrade().map(|inner| PluginManager { inner })
    }
}

/// Builds a [`PluginManager`].
pub struct PluginManagerBuilder {
    config: HostConfig,
    natives: Vec<NativePlugin>,
    runtimes: Vec<Arc<dyn Runtime>>,
    memory: Option<Arc<dyn MemoryView>>,
}

impl PluginManagerBuilder {
    pub fn with_native(mut self, plugin: Arc<dyn Plugin>, enabled_by_default: bool) -> Self {
        self.natives.push(NativePlugin {
            plugin,
            enabled_by_default,
        });
        self
    }

    pub fn with_natives(mut self, natives: impl IntoIterator<Item = NativePlugin>) -> Self {
        self.natives.extend(natives);
        self
    }

    pub fn with_runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtimes.push(runtime);
        self
    }

    pub fn with_memory(mut self, memory: Arc<dyn MemoryView>) -> Self {
        self.memory = Some(memory);
        self
    }

    /// Initializes the built-in plugins, loads the folder and returns the running manager.
    /// Nothing a plugin does makes this fail: failures land in `load_errors`.
    pub async fn start(self) -> PluginManager {
        let manager = self.build();
        manager.load_all().await;
        manager.start_mcp_servers().await;
        manager.inner.ready.send_replace(true);
        manager
    }

    /// Returns the manager at once and loads in the background, files several at a time:
    /// a server can listen meanwhile. [`PluginManager::loading`] says how far it is, and a
    /// call of a plugin not loaded yet waits for the load (within the plugin timeout).
    pub fn start_loading(self) -> PluginManager {
        let manager = self.build();
        let loader = manager.clone();
        tokio::spawn(async move {
            loader.load_all().await;
            loader.start_mcp_servers().await;
            loader.inner.ready.send_replace(true);
            tracing::info!(plugins = loader.list().len(), "plugins loaded");
        });
        manager
    }

    fn build(self) -> PluginManager {
        let (generation, _) = watch::channel(0);
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
            config: self.config,
            natives: self.natives,
            runtimes: self.runtimes,
            registry: ArcSwap::from_pointee(Registry::default()),
            overrides: Mutex::new(HashMap::new()),
            policy_overrides: Mutex::new(HashMap::new()),
            memory: self.memory,
            directory: Arc::new(Directory(weak.clone())),
            reload_lock: tokio::sync::Mutex::new(()),
            generation,
            group_errors: Mutex::new(BTreeMap::new()),
            mcp: tokio::sync::Mutex::new(BTreeMap::new()),
            manifest_mcp: Mutex::new(BTreeMap::new()),
            manifest_mcp_files: Mutex::new(BTreeMap::new()),
            ready: watch::channel(false).0,
            load_total: std::sync::atomic::AtomicUsize::new(0),
            load_done: std::sync::atomic::AtomicUsize::new(0),
        });
        PluginManager { inner }
    }
}

impl PluginManager {
    pub fn builder(config: HostConfig) -> PluginManagerBuilder {
        PluginManagerBuilder {
            config,
            natives: Vec::new(),
            runtimes: Vec::new(),
            memory: None,
        }
    }

    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// Every loaded plugin, in load order.
    pub fn list(&self) -> Vec<Arc<PluginEntry>> {
        self.inner.registry.load().order.clone()
    }

    /// Files that could not be loaded, with the reason.
    pub fn load_errors(&self) -> Vec<LoadError> {
        self.inner.registry.load().load_errors.clone()
    }

    /// The plugin with this name or alias.
    pub fn get(&self, name: &str) -> Result<Arc<PluginEntry>, PluginError> {
        self.inner.registry.load().resolve(name).cloned()
    }

    /// Records a stored switch and policy for a plugin that has not loaded yet (the first
    /// load is still running), so that they hold from the moment it appears.
    pub fn preset(&self, name: &str, enabled: Option<bool>, policy: Option<Policy>) {
        if let Some(enabled) = enabled {
            self.inner.overrides.lock().insert(name.to_owned(), enabled);
        }
        if let Some(policy) = policy {
            self.inner
                .policy_overrides
                .lock()
                .insert(name.to_owned(), policy);
        }
    }

    /// `None` once the first load is done; while it runs, how far it is.
    pub fn loading(&self) -> Option<Loading> {
        if *self.inner.ready.borrow() {
            return None;
        }
        Some(Loading {
            loaded: self.inner.load_done.load(Ordering::Relaxed),
            total: self.inner.load_total.load(Ordering::Relaxed),
        })
    }

    /// Waits until the first load is done, at most `within`; true when it is.
    pub async fn wait_loaded(&self, within: Duration) -> bool {
        let mut ready = self.inner.ready.subscribe();
        tokio::time::timeout(within, ready.wait_for(|ready| *ready))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }

    /// [`PluginManager::get`], but a name not found while the first load runs waits for that
    /// load (at most the default plugin timeout) and is looked up again.
    async fn get_when_loaded(&self, name: &str) -> Result<Arc<PluginEntry>, PluginError> {
        match self.get(name) {
            Err(PluginError::NotFound { .. }) if self.loading().is_some() => {
                self.wait_loaded(self.inner.config.limits.timeout()).await;
                self.get(name)
            }
            found => found,
        }
    }

    /// The enabled plugins as model tools, leaving out the plugins named in `exclude`.
    pub fn toolbox<S: AsRef<str>>(&self, exclude: &[S]) -> Toolbox {
        Toolbox::new(self.list(), exclude)
    }

    /// A receiver that changes whenever the plugin list or a plugin's state changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.generation.subscribe()
    }

    /// The read-only view of the plugin list handed to plugins.
    pub fn directory(&self) -> Arc<dyn PluginDirectory> {
        self.inner.directory.clone()
    }

    /// Switches a plugin on or off; the choice holds across reloads until changed again.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<Arc<PluginEntry>, PluginError> {
        let canonical = self.get(name)?.info.name.clone();
        // The override is recorded before the entry is switched, and a reload applies the
        // overrides after it swaps the registry, so a reload running now cannot lose it.
        self.inner
            .overrides
            .lock()
            .insert(canonical.clone(), enabled);
        let entry = self.get(&canonical)?;
        entry.set_enabled(enabled);
        tracing::info!(plugin = %entry.info.name, enabled, "plugin switched");
        self.bump_generation();
        Ok(entry)
    }

    /// Drops the run-time switch of a plugin: it is on or off again as its settings (or its
    /// default) say, now and across reloads.
    pub fn reset_enabled(&self, name: &str) -> Result<Arc<PluginEntry>, PluginError> {
        let canonical = self.get(name)?.info.name.clone();
        self.inner.overrides.lock().remove(&canonical);
        let entry = self.get(&canonical)?;
        if entry.is_enabled() != entry.configured_enabled {
            entry.set_enabled(entry.configured_enabled);
            tracing::info!(plugin = %entry.info.name, enabled = entry.configured_enabled, "plugin switch cleared");
            self.bump_generation();
        }
        Ok(entry)
    }

    /// Sets a plugin's approval policy at run time (`None`: back to its settings'); the choice
    /// holds across reloads until changed again.
    pub fn set_policy(
        &self,
        name: &str,
        policy: Option<Policy>,
    ) -> Result<Arc<PluginEntry>, PluginError> {
        let canonical = self.get(name)?.info.name.clone();
        {
            let mut overrides = self.inner.policy_overrides.lock();
            match policy {
                Some(policy) => overrides.insert(canonical.clone(), policy),
                None => overrides.remove(&canonical),
            };
        }
        let entry = self.get(&canonical)?;
        let policy = policy.unwrap_or(entry.configured_policy);
        if entry.policy() != policy {
            entry.set_policy(policy);
            tracing::info!(plugin = %entry.info.name, policy = policy.as_str(), "plugin policy set");
            self.bump_generation();
        }
        Ok(entry)
    }

    /// Runs one call within the plugin's limits.
    pub async fn execute(&self, request: ExecutionRequest) -> Result<Execution, PluginError> {
        let entry = self.get_when_loaded(&request.plugin).await?;
        self.execute_on(entry, request).await
    }

    /// Runs `request` on `entry`, the plugin its name resolved to a moment ago.
    async fn execute_on(
        &self,
        mut entry: Arc<PluginEntry>,
        request: ExecutionRequest,
    ) -> Result<Execution, PluginError> {
        let started = Instant::now();
        let mut data = request.data;
        let result = loop {
            if !entry.is_enabled() {
                return Err(PluginError::Disabled(entry.info.name.clone()));
            }
            // `deny` holds on every surface; `ask` is the chat turn's to handle, and a person's
            // own call (execute, `/run`) needs no one else's answer.
            if entry.policy() == Policy::Deny {
                return Err(PluginError::Denied(format!(
                    "plugin '{}' is set to deny by its approval policy",
                    entry.info.name
                )));
            }
            entry.check_input(&data)?;
            let mut ctx = ExecContext::new(
                request.session_id.clone(),
                guard::deadline(entry.limits.timeout()),
            )
            .with_cancel(request.cancel.clone())
            .with_progress(request.progress.clone())
            .with_plugins(self.inner.directory.clone())
            .with_config(entry.config.clone());
            if let Some(memory) = &self.inner.memory {
                ctx = ctx.with_memory(memory.clone());
            }
            match guard::run(&entry, data, &ctx).await {
                Ok(result) => break result,
                // A reload retired the entry between the lookup and the call: the call
                // goes to whatever now answers to the name (or fails with `NotFound`).
                Err(guard::Unloaded(back)) => {
                    let next = self.get(&request.plugin)?;
                    if Arc::ptr_eq(&next, &entry) {
                        break Err(PluginError::Crashed("the plugin was unloaded".to_owned()));
                    }
                    entry = next;
                    data = back;
                }
            }
        };
        let duration = started.elapsed();
        match &result {
            Ok(_) => {
                tracing::debug!(plugin = %entry.info.name, duration_ms = duration.as_millis() as u64, "plugin call")
            }
            Err(e) => {
                tracing::info!(plugin = %entry.info.name, duration_ms = duration.as_millis() as u64, error = %e, "plugin call failed")
            }
        }
        Ok(Execution {
            plugin: entry.info.name.clone(),
            result: result?,
            duration,
        })
    }

    /// Shuts every plugin down in reverse load order, after its in-flight calls end
    /// (each bounded by the plugin's timeout).
    pub async fn shutdown(&self) {
        let servers = std::mem::take(&mut *self.inner.mcp.lock().await);
        for (_, server) in servers {
            server.stop().await;
        }
        let registry = self.inner.registry.swap(Arc::new(Registry::default()));
        self.bump_generation();
        // Shadowed built-ins are alive too, though out of the list.
        let shadowed: Vec<Arc<PluginEntry>> = registry.shadowed().cloned().collect();
        for entry in registry.order.iter().rev().chain(shadowed.iter().rev()) {
            retire(entry.clone()).await;
        }
        for runtime in &self.inner.runtimes {
            runtime.shutdown().await;
        }
    }

    fn bump_generation(&self) {
        self.inner.generation.send_modify(|g| *g += 1);
    }

    fn weak(&self) -> WeakManager {
        WeakManager(Arc::downgrade(&self.inner))
    }
}

/// Waits for a replaced or removed plugin's in-flight calls, then shuts it down.
async fn retire(entry: Arc<PluginEntry>) {
    let permits = u32::try_from(entry.limits.max_concurrency).unwrap_or(u32::MAX);
    let drain = entry.slots.acquire_many(permits);
    if tokio::time::timeout(entry.limits.timeout(), drain)
        .await
        .is_err()
    {
        tracing::warn!(plugin = %entry.info.name, "calls still running at unload; shutting down anyway");
    }
    entry.slots.close();
    match tokio::time::timeout(Duration::from_secs(10), entry.plugin.shutdown()).await {
        Ok(Ok(())) => tracing::debug!(plugin = %entry.info.name, "plugin shut down"),
        Ok(Err(e)) => {
            tracing::warn!(plugin = %entry.info.name, error = %e, "plugin shutdown failed")
        }
        Err(_) => tracing::warn!(plugin = %entry.info.name, "plugin shutdown timed out"),
    }
}

/// The plugin list as plugins see it (for `plugin_metadata`).
struct Directory(Weak<Inner>);

impl PluginDirectory for Directory {
    fn plugins(&self) -> Vec<PluginSummary> {
        match self.0.upgrade() {
            Some(inner) => inner
                .registry
                .load()
                .order
                .iter()
                .map(|e| e.summary())
                .collect(),
            None => Vec::new(),
        }
    }
}
