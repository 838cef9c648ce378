//! The PluginManager: builds the registry from built-in plugins and the plugins folder,
//! executes calls, switches plugins on and off, reloads and shuts down.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use codex_plugin::{
    ExecContext, MemoryView, Plugin, PluginDirectory, PluginError, PluginKind, PluginSummary,
};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{HostConfig, PluginSettings};
use crate::discovery::{self, PluginFile};
use crate::guard;
use crate::manifest::Manifest;
use crate::mcp::{McpServerConfig, Supervisor};
use crate::registry::{LoadError, PluginEntry, Registry};
use crate::runtime::Runtime;

/// A plugin compiled into the binary.
pub struct NativePlugin {
    pub plugin: Arc<dyn Plugin>,
    /// `shell` is off until config enables it; everything else is on.
    pub enabled_by_default: bool,
}

/// One call to make.
#[derive(Debug, Clone)]
pub struct ExecutionRequest {
    /// A name or an alias.
    pub plugin: String,
    pub data: Value,
    pub session_id: String,
    /// Cancelled by the caller when it stops waiting (client gone, shutdown).
    pub cancel: CancellationToken,
}

impl ExecutionRequest {
    pub fn new(plugin: impl Into<String>, data: Value) -> Self {
        ExecutionRequest {
            plugin: plugin.into(),
            data,
            session_id: "default".to_owned(),
            cancel: CancellationToken::new(),
        }
    }

    pub fn with_session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = session_id.into();
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
    memory: Option<Arc<dyn MemoryView>>,
    directory: Arc<dyn PluginDirectory>,
    /// One reload at a time.
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
        let (generation, _) = watch::channel(0);
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
            config: self.config,
            natives: self.natives,
            runtimes: self.runtimes,
            registry: ArcSwap::from_pointee(Registry::default()),
            overrides: Mutex::new(HashMap::new()),
            memory: self.memory,
            directory: Arc::new(Directory(weak.clone())),
            reload_lock: tokio::sync::Mutex::new(()),
            generation,
            group_errors: Mutex::new(BTreeMap::new()),
            mcp: tokio::sync::Mutex::new(BTreeMap::new()),
            manifest_mcp: Mutex::new(BTreeMap::new()),
        });
        let manager = PluginManager { inner };
        manager.load_all().await;
        manager.start_mcp_servers().await;
        manager
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
        self.inner.generation.send_modify(|g| *g += 1);
        Ok(entry)
    }

    /// Runs one call within the plugin's limits.
    pub async fn execute(&self, request: ExecutionRequest) -> Result<Execution, PluginError> {
        let entry = self.get(&request.plugin)?;
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
            let mut ctx = ExecContext::new(
                request.session_id.clone(),
                guard::deadline(entry.limits.timeout()),
            )
            .with_cancel(request.cancel.clone())
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

    /// Rescans the plugins folder: new files load, changed files replace their plugin,
    /// removed files unload. A file that fails to load leaves its previous version serving.
    pub async fn reload(&self) {
        let _one_at_a_time = self.inner.reload_lock.lock().await;
        let previous = self.inner.registry.load_full();
        let mut next = Registry::default();
        let mut retired: Vec<Arc<PluginEntry>> = Vec::new();

        for entry in previous.order.iter().filter(|e| e.source.is_none()) {
            next.order.push(entry.clone());
        }
        let mut scan_failed = false;
        let files = match discovery::scan(&self.inner.config.plugins_dir) {
            Ok(files) => files,
            Err(e) => {
                scan_failed = true;
                tracing::warn!(error = %e, "plugins folder unreadable; keeping what is loaded");
                next.load_errors.push(LoadError {
                    file: self.inner.config.plugins_dir.display().to_string(),
                    plugin: None,
                    error: e.to_string(),
                });
                previous
                    .order
                    .iter()
                    .filter(|e| e.source.is_some())
                    .for_each(|e| next.order.push(e.clone()));
                Vec::new()
            }
        };
        let mut seen_sources = Vec::new();
        let mut declared = BTreeMap::new();
        let was_declared = self.inner.manifest_mcp.lock().clone();
        for file in files {
            seen_sources.push(file.path.clone());
            if file.is_manifest_only() {
                let name = &file.name.name;
                match &file.manifest {
                    Ok(Some(Manifest {
                        mcp: Some(server), ..
                    })) => {
                        if self.inner.config.mcp_servers.contains_key(name) {
                            next.load_errors.push(LoadError {
                                file: file.path.display().to_string(),
                                plugin: None,
                                error: format!(
                                    "MCP server '{name}' is already configured in the config file"
                                ),
                            });
                        } else {
                            declared.insert(name.clone(), server.clone());
                        }
                        continue;
                    }
                    // A manifest that no longer parses keeps its server running.
                    Err(_) if was_declared.contains_key(name) => {
                        declared.insert(name.clone(), was_declared[name].clone());
                    }
                    _ => {}
                }
            }
            let old = previous
                .order
                .iter()
                .find(|e| e.source.as_deref() == Some(file.path.as_path()))
                .cloned();
            if let Some(old) = &old
                && old.fingerprint.as_ref() == Some(&file.fingerprint)
            {
                next.order.push(old.clone());
                continue;
            }
            match self.load_file(&file).await {
                Ok(Some(entry)) => {
                    if let Some(old) = old {
                        retired.push(old);
                    }
                    next.order.push(entry);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(file = %file.path.display(), %error, "plugin failed to load");
                    next.load_errors.push(LoadError {
                        file: file.path.display().to_string(),
                        plugin: Some(file.name.name.clone()),
                        error,
                    });
                    if let Some(old) = old {
                        next.order.push(old);
                    }
                }
            }
        }
        for entry in previous.order.iter().filter(|e| e.source.is_some()) {
            let gone = entry
                .source
                .as_ref()
                .is_some_and(|s| !seen_sources.contains(s));
            if gone {
                retired.push(entry.clone());
            }
        }
        next.load_errors
            .extend(self.inner.group_errors.lock().values().cloned());
        self.index(&mut next);
        let changed = next.order.len() != previous.order.len()
            || next
                .order
                .iter()
                .zip(&previous.order)
                .any(|(a, b)| !Arc::ptr_eq(a, b))
            || next.load_errors != previous.load_errors;
        let next = Arc::new(next);
        self.inner.registry.store(next.clone());
        self.apply_overrides(&next);
        if changed {
            self.inner.generation.send_modify(|g| *g += 1);
        }
        for entry in retired {
            tokio::spawn(retire(entry));
        }
        if scan_failed {
            declared = was_declared;
        }
        let (start, stop): (Vec<_>, Vec<_>) = {
            let mut running = self.inner.manifest_mcp.lock();
            let start = declared
                .iter()
                .filter(|(name, config)| running.get(*name) != Some(*config))
                .map(|(name, config)| (name.clone(), config.clone()))
                .collect();
            let stop = running
                .keys()
                .filter(|name| !declared.contains_key(*name))
                .cloned()
                .collect();
            *running = declared;
            (start, stop)
        };
        // Servers publish their tools under the reload lock: start and stop them without it.
        drop(_one_at_a_time);
        for name in stop {
            self.stop_mcp_server(&name).await;
        }
        for (name, config) in start {
            if config.enabled {
                self.start_mcp_server(&name, config).await;
            } else {
                self.stop_mcp_server(&name).await;
            }
        }
    }

    /// Stops the MCP server `name` and unregisters its tools.
    pub(crate) async fn stop_mcp_server(&self, name: &str) {
        let old = self.inner.mcp.lock().await.remove(name);
        if let Some(old) = old {
            old.stop().await;
        }
        let group = crate::mcp::group_id(name);
        self.replace_group(&group, PluginKind::Mcp, Vec::new(), None)
            .await;
    }

    /// Replaces every plugin of run-time group `group` (an MCP server's tools) with
    /// `plugins`, which are ready to run (no `initialize`), and records `error` as the
    /// group's load error (`None` clears it). Folder reloads keep groups as they are.
    /// A plugin whose name is already taken by another plugin is left out, with a load error.
    pub async fn replace_group(
        &self,
        group: &str,
        kind: PluginKind,
        plugins: Vec<Arc<dyn Plugin>>,
        error: Option<LoadError>,
    ) {
        let _one_at_a_time = self.inner.reload_lock.lock().await;
        let previous = self.inner.registry.load_full();
        let mut next = Registry::default();
        let mut retired = Vec::new();
        for entry in &previous.order {
            if entry.group.as_deref() == Some(group) {
                retired.push(entry.clone());
            } else {
                next.order.push(entry.clone());
            }
        }
        let mut errors = self.inner.group_errors.lock();
        errors.remove(group);
        if let Some(error) = error {
            errors.insert(group.to_owned(), error);
        }
        let mut clashes = Vec::new();
        for plugin in plugins {
            let info = plugin.info().clone();
            let taken = next.order.iter().any(|e| e.info.name == info.name);
            if taken || !codex_plugin::naming::is_valid_name(&info.name) {
                clashes.push(info.name);
                continue;
            }
            let settings = self.settings_for(&info.name, None);
            let mut entry = self.entry(info, kind, plugin, None, &settings, true);
            if let Some(entry) = Arc::get_mut(&mut entry) {
                entry.group = Some(group.to_owned());
            }
            next.order.push(entry);
        }
        if !clashes.is_empty() {
            errors.insert(
                group.to_owned(),
                LoadError {
                    file: group.to_owned(),
                    plugin: None,
                    error: format!(
                        "left out, the name is taken or invalid: {}",
                        clashes.join(", ")
                    ),
                },
            );
        }
        // The folder's errors stay; the groups' errors are rebuilt.
        let group_files: Vec<&String> = errors.keys().collect();
        next.load_errors = previous
            .load_errors
            .iter()
            .filter(|e| e.file != group && !group_files.contains(&&e.file))
            .cloned()
            .collect();
        next.load_errors.extend(errors.values().cloned());
        drop(errors);
        self.index(&mut next);
        let next = Arc::new(next);
        self.inner.registry.store(next.clone());
        self.apply_overrides(&next);
        self.inner.generation.send_modify(|g| *g += 1);
        for entry in retired {
            tokio::spawn(retire(entry));
        }
    }

    /// Starts the MCP servers of the config; their tools appear as they are listed.
    async fn start_mcp_servers(&self) {
        let servers = self.inner.config.mcp_servers.clone();
        for (name, config) in servers.into_iter().filter(|(_, c)| c.enabled) {
            self.start_mcp_server(&name, config).await;
        }
    }

    /// Starts (or restarts with a new config) the MCP server `name`.
    pub(crate) async fn start_mcp_server(&self, name: &str, config: McpServerConfig) {
        let supervisor = Supervisor::start(name, config, WeakManager(Arc::downgrade(&self.inner)));
        let old = self
            .inner
            .mcp
            .lock()
            .await
            .insert(name.to_owned(), supervisor);
        if let Some(old) = old {
            old.stop().await;
        }
    }

    /// Switches each entry of `registry` as the run-time overrides say.
    fn apply_overrides(&self, registry: &Registry) {
        let overrides = self.inner.overrides.lock();
        for entry in &registry.order {
            if let Some(&enabled) = overrides.get(&entry.info.name) {
                entry.set_enabled(enabled);
            }
        }
    }

    /// Shuts every plugin down in reverse load order, after its in-flight calls end
    /// (each bounded by the plugin's timeout).
    pub async fn shutdown(&self) {
        let servers = std::mem::take(&mut *self.inner.mcp.lock().await);
        for (_, server) in servers {
            server.stop().await;
        }
        let registry = self.inner.registry.swap(Arc::new(Registry::default()));
        self.inner.generation.send_modify(|g| *g += 1);
        for entry in registry.order.iter().rev() {
            retire(entry.clone()).await;
        }
        for runtime in &self.inner.runtimes {
            runtime.shutdown().await;
        }
    }

    async fn load_all(&self) {
        let mut registry = Registry::default();
        for native in &self.inner.natives {
            let mut info = native.plugin.info().clone();
            if !codex_plugin::naming::is_valid_name(&info.name) {
                registry.load_errors.push(LoadError {
                    file: "(built-in)".to_owned(),
                    plugin: Some(info.name.clone()),
                    error: "invalid plugin name".to_owned(),
                });
                continue;
            }
            info.name = info.name.trim().to_owned();
            let settings = self.settings_for(&info.name, None);
            match self.initialize(native.plugin.clone(), &info.name).await {
                Ok(()) => registry.order.push(self.entry(
                    info,
                    PluginKind::Native,
                    native.plugin.clone(),
                    None,
                    &settings,
                    native.enabled_by_default,
                )),
                Err(error) => registry.load_errors.push(LoadError {
                    file: "(built-in)".to_owned(),
                    plugin: Some(info.name),
                    error,
                }),
            }
        }
        self.index(&mut registry);
        self.inner.registry.store(Arc::new(registry));
        self.reload().await;
    }

    /// Loads and initializes one file; `Ok(None)` for files no runtime claims but that
    /// are not errors (a manifest beside its code file is handled with that file).
    async fn load_file(&self, file: &PluginFile) -> Result<Option<Arc<PluginEntry>>, String> {
        let manifest = file.manifest.clone()?.unwrap_or_default();
        if file.is_manifest_only() {
            // Manifests with `[mcp]` never get here: this one belongs to a plugin file
            // that is missing (or misnamed), which is not a runtime being absent.
            return Err(self.orphan_manifest(file));
        }
        let Some(runtime) = self.inner.runtimes.iter().find(|r| r.handles(file)) else {
            return Err(format!(
                "no runtime for '.{}' plugins is available in this build",
                file.name.extension
            ));
        };
        let name = file.name.name.clone();
        if self
            .inner
            .registry
            .load()
            .order
            .iter()
            .any(|e| e.source.is_none() && e.info.name == name)
        {
            return Err(format!("'{name}' is the name of a built-in plugin"));
        }
        let plugin = runtime.load(file, &manifest).await?;
        let mut info = plugin.info().clone();
        info.name = name.clone();
        manifest.apply_metadata(&mut info);
        self.initialize(plugin.clone(), &name).await?;
        let settings = self.settings_for(&name, Some(&manifest));
        Ok(Some(self.entry(
            info,
            runtime.kind(),
            plugin,
            Some(file),
            &settings,
            true,
        )))
    }

    /// The load error of a manifest with neither an `[mcp]` table nor its plugin file.
    fn orphan_manifest(&self, file: &PluginFile) -> String {
        let looked_for: Vec<String> = self
            .inner
            .runtimes
            .iter()
            .map(|r| format!("{}.{}", file.name.stem, r.extension()))
            .collect();
        let looked_for = if looked_for.is_empty() {
            "no plugin runtime is compiled into this build".to_owned()
        } else {
            format!("looked for {}", looked_for.join(", "))
        };
        format!(
            "{}: no plugin file beside this manifest and no [mcp] table ({looked_for})",
            file.path.display()
        )
    }

    async fn initialize(&self, plugin: Arc<dyn Plugin>, name: &str) -> Result<(), String> {
        let limit = self.inner.config.init_timeout;
        let init =
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(plugin.initialize()));
        match tokio::time::timeout(limit, init).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("initialize failed: {e}")),
            Ok(Err(_)) => Err("initialize panicked".to_owned()),
            Err(_) => Err(format!(
                "initialize of '{name}' did not finish within {} ms",
                limit.as_millis()
            )),
        }
    }

    fn settings_for(&self, name: &str, manifest: Option<&Manifest>) -> PluginSettings {
        let from_manifest = manifest.map(Manifest::settings).unwrap_or_default();
        match self.inner.config.plugins.get(name) {
            Some(configured) => from_manifest.overridden_by(configured),
            None => from_manifest,
        }
    }

    fn entry(
        &self,
        info: codex_plugin::PluginInfo,
        kind: PluginKind,
        plugin: Arc<dyn Plugin>,
        file: Option<&PluginFile>,
        settings: &PluginSettings,
        enabled_by_default: bool,
    ) -> Arc<PluginEntry> {
        let limits = settings.apply_to(self.inner.config.limits);
        let enabled = self
            .inner
            .overrides
            .lock()
            .get(&info.name)
            .copied()
            .or(settings.enabled)
            .unwrap_or(enabled_by_default);
        Arc::new(PluginEntry {
            kind,
            source: file.map(|f| f.path.clone()),
            aliases: self.aliases_for(&info.name, file),
            limits,
            plugin,
            enabled: AtomicBool::new(enabled),
            slots: Semaphore::new(limits.max_concurrency),
            running: AtomicUsize::new(0),
            config: Arc::new(settings.config.clone().unwrap_or(Value::Null)),
            fingerprint: file.map(|f| f.fingerprint.clone()),
            group: None,
            info,
        })
    }

    /// Fills the lookup table: aliases first, then names, so a name always wins.
    fn index(&self, registry: &mut Registry) {
        let mut lookup = HashMap::new();
        for entry in &registry.order {
            for alias in &entry.aliases {
                lookup.entry(alias.clone()).or_insert_with(|| entry.clone());
            }
        }
        for entry in &registry.order {
            lookup.insert(entry.info.name.clone(), entry.clone());
        }
        registry.lookup = lookup;
    }

    /// A file plugin answers to its stem (`echo_plugin`); any plugin to its configured aliases.
    fn aliases_for(&self, name: &str, file: Option<&PluginFile>) -> Vec<String> {
        let mut aliases: Vec<String> = file
            .map(|f| f.name.alias().to_owned())
            .into_iter()
            .collect();
        aliases.extend(
            self.inner
                .config
                .aliases
                .iter()
                .filter(|(_, target)| target.as_str() == name)
                .map(|(alias, _)| alias.clone()),
        );
        aliases
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

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use codex_plugin::PluginInfo;
    use serde_json::json;

    struct Answer(PluginInfo);

    #[async_trait]
    impl Plugin for Answer {
        fn info(&self) -> &PluginInfo {
            &self.0
        }

        async fn execute(&self, _data: Value, _ctx: &ExecContext) -> codex_plugin::Result<Value> {
            Ok(json!(42))
        }
    }

    // A call looks its plugin up, then waits for a concurrency slot; a reload that retired
    // the entry in between closed those slots, and the call failed with "unloaded" although
    // the replacement was serving. It must run on the replacement instead.
    #[tokio::test]
    async fn a_call_holding_a_retired_entry_runs_on_its_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let manager = PluginManager::builder(HostConfig::new(dir.path()))
            .with_native(Arc::new(Answer(PluginInfo::new("answer"))), true)
            .start()
            .await;
        let old = manager.get("answer").unwrap();
        manager.load_all().await;
        retire(old.clone()).await;
        assert!(!Arc::ptr_eq(&old, &manager.get("answer").unwrap()));

        let request = ExecutionRequest::new("answer", json!(null));
        let execution = manager.execute_on(old, request).await.unwrap();
        assert_eq!(execution.result, json!(42));
    }

    // The same entry closed and still registered: no replacement, so a clear failure
    // rather than an endless retry.
    #[tokio::test]
    async fn a_call_on_a_retired_entry_without_replacement_fails_once() {
        let dir = tempfile::tempdir().unwrap();
        let manager = PluginManager::builder(HostConfig::new(dir.path()))
            .with_native(Arc::new(Answer(PluginInfo::new("answer"))), true)
            .start()
            .await;
        let entry = manager.get("answer").unwrap();
        entry.slots.close();
        let err = manager
            .execute(ExecutionRequest::new("answer", json!(null)))
            .await
            .unwrap_err();
        assert!(matches!(err, PluginError::Crashed(_)), "{err:?}");
    }

    // Every reload bumped the generation, changed or not, so subscribers (MCP
    // `list_changed`, the UI) were told of changes that never happened.
    #[tokio::test]
    async fn a_reload_that_changes_nothing_does_not_bump_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let manager = PluginManager::builder(HostConfig::new(dir.path()))
            .with_native(Arc::new(Answer(PluginInfo::new("answer"))), true)
            .start()
            .await;
        let mut generation = manager.subscribe();
        generation.borrow_and_update();
        manager.reload().await;
        assert!(!generation.has_changed().unwrap());
        manager.set_enabled("answer", false).unwrap();
        assert!(generation.has_changed().unwrap());
    }
}
