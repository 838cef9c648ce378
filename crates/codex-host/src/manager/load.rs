//! Loading: the built-in plugins at start, one plugin file at a time, `initialize`, and
//! building the registry entry (limits, switches, aliases) and the lookup index.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};

use codex_plugin::{Plugin, PluginInfo, PluginKind};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::PluginManager;
use crate::config::{PluginSettings, Prefer};
use crate::discovery::PluginFile;
use crate::manifest::Manifest;
use crate::registry::{LoadError, PluginEntry, Registry, policy_code};

/// What `LoadError::file` says for a plugin compiled into the binary.
const BUILT_IN: &str = "(built-in)";

impl PluginManager {
    /// Initializes the built-in plugins into a fresh registry, then loads the folder.
    pub(super) async fn load_all(&self) {
        let mut registry = Registry::default();
        for native in &self.inner.natives {
            let mut info = native.plugin.info().clone();
            if !codex_plugin::naming::is_valid_name(&info.name) {
                registry.load_errors.push(LoadError {
                    file: BUILT_IN.to_owned(),
                    plugin: Some(info.name.clone()),
                    error: "invalid plugin name".to_owned(),
                });
                continue;
            }
            info.name = info.name.trim().to_owned();
            let settings = self.settings_for(&info.name, None);
            match self.initialize(native.plugin.clone(), &info.name).await {
                Ok(()) => registry.natives.push(Arc::new(self.entry(
                    info,
                    PluginKind::Native,
                    native.plugin.clone(),
                    None,
                    &settings,
                    native.enabled_by_default,
                ))),
                Err(error) => registry.native_errors.push(LoadError {
                    file: BUILT_IN.to_owned(),
                    plugin: Some(info.name),
                    error,
                }),
            }
        }
        registry.order = registry.natives.clone();
        registry.load_errors = registry.native_errors.clone();
        self.index(&mut registry);
        self.inner.registry.store(Arc::new(registry));
        self.reload().await;
    }

    /// Loads and initializes one file; `Ok(None)` for files no runtime claims but that
    /// are not errors (a manifest beside its code file is handled with that file).
    pub(super) async fn load_file(
        &self,
        file: &PluginFile,
    ) -> Result<Option<Arc<PluginEntry>>, String> {
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
        manifest
            .check_kind(runtime.kind())
            .map_err(|e| format!("{}: {e}", file.manifest_path().display()))?;
        let name = file.name.name.clone();
        let settings = self.settings_for(&name, Some(&manifest));
        // The folder is the user's choice, so a file named like a built-in takes the name,
        // unless the config file says the built-in keeps it.
        let shadows = self.is_native(&name).then(|| name.clone());
        if shadows.is_some() && settings.prefer == Some(Prefer::Builtin) {
            return Err(format!(
                "not loaded: [plugins.{name}] prefer = \"builtin\" keeps the built-in '{name}'"
            ));
        }
        let plugin = runtime
            .load(file, &manifest)
            .await
            .map_err(|e| e.to_string())?;
        let mut info = plugin.info().clone();
        info.name = name.clone();
        manifest.apply_metadata(&mut info);
        self.initialize(plugin.clone(), &name).await?;
        if shadows.is_some() {
            tracing::warn!(
                file = %file.path.display(),
                builtin = %name,
                "plugin file shadows the built-in plugin of its name; \
                 [plugins.{name}] prefer = \"builtin\" keeps the built-in instead"
            );
        }
        let mut entry = self.entry(info, runtime.kind(), plugin, Some(file), &settings, true);
        entry.shadows = shadows;
        Ok(Some(Arc::new(entry)))
    }

    /// Whether `name` is a built-in plugin's (loaded, whether shadowed or not).
    fn is_native(&self, name: &str) -> bool {
        self.inner
            .registry
            .load()
            .natives
            .iter()
            .any(|native| native.info.name == name)
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

    /// The manifest's settings with the config file's `[plugins.<name>]` laid over them.
    pub(super) fn settings_for(&self, name: &str, manifest: Option<&Manifest>) -> PluginSettings {
        let from_manifest = manifest.map(Manifest::settings).unwrap_or_default();
        match self.inner.config.plugins.get(name) {
            Some(configured) => from_manifest.overridden_by(configured),
            None => from_manifest,
        }
    }

    /// A registry entry: limits are the defaults ← manifest ← config file; the switch is a
    /// run-time choice, else the settings', else the plugin's default.
    pub(super) fn entry(
        &self,
        info: PluginInfo,
        kind: PluginKind,
        plugin: Arc<dyn Plugin>,
        file: Option<&PluginFile>,
        settings: &PluginSettings,
        enabled_by_default: bool,
    ) -> PluginEntry {
        let limits = settings.apply_to(self.inner.config.limits);
        let configured_enabled = settings.enabled.unwrap_or(enabled_by_default);
        let enabled = self
            .inner
            .overrides
            .lock()
            .get(&info.name)
            .copied()
            .unwrap_or(configured_enabled);
        let configured_policy = settings.policy.unwrap_or_default();
        let policy = self
            .inner
            .policy_overrides
            .lock()
            .get(&info.name)
            .copied()
            .unwrap_or(configured_policy);
        PluginEntry {
            kind,
            source: file.map(|f| f.path.clone()),
            declared_in: None,
            shadows: None,
            updated_at: file.and_then(|f| f.fingerprint.modified()),
            aliases: self.aliases_for(&info.name, file),
            limits,
            plugin,
            enabled: AtomicBool::new(enabled),
            configured_enabled,
            policy: AtomicU8::new(policy_code(policy)),
            configured_policy,
            slots: Semaphore::new(limits.max_concurrency),
            running: AtomicUsize::new(0),
            config: Arc::new(settings.config.clone().unwrap_or(Value::Null)),
            fingerprint: file.map(|f| f.fingerprint.clone()),
            validator: std::sync::OnceLock::new(),
            helpers: info
                .helpers
                .iter()
                .map(|path| (path.clone(), crate::registry::file_stamp(path)))
                .collect(),
            group: None,
            info,
        }
    }

    /// Fills the lookup table: aliases first, then names, so a name always wins.
    pub(super) fn index(&self, registry: &mut Registry) {
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
