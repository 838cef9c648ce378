//! The registry: an immutable snapshot of loaded plugins and their aliases,
//! swapped whole so that a reload never blocks a call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::SystemTime;

use codex_plugin::naming::PLUGIN_SUFFIX;
use codex_plugin::{Plugin, PluginError, PluginInfo, PluginKind, PluginSummary, Policy};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::config::Limits;
use crate::discovery::Fingerprint;

/// A loaded plugin and everything the host keeps about it.
pub struct PluginEntry {
    /// The plugin's metadata with its manifest applied; `info.name` is the canonical name.
    pub info: PluginInfo,
    pub kind: PluginKind,
    /// The file it was loaded from; `None` for built-in plugins.
    pub source: Option<PathBuf>,
    /// Where an MCP server's tool was declared: its manifest's path, or `config` for the
    /// config file's `[mcp.servers]`. (Not `source`: folder reloads own the entries that
    /// have one, and a server's tools are its supervisor's.)
    pub declared_in: Option<String>,
    /// The built-in plugin this file plugin stands in for: it has the built-in's name, and
    /// the built-in steps aside while the file is loaded.
    pub shadows: Option<String>,
    /// When the plugin's file (or its manifest) last changed; `None` for plugins without a
    /// file (built-ins, MCP tools).
    pub updated_at: Option<SystemTime>,
    pub aliases: Vec<String>,
    pub limits: Limits,
    pub(crate) plugin: Arc<dyn Plugin>,
    pub(crate) enabled: AtomicBool,
    /// The switch the settings or the plugin's default give, what a cleared run-time switch
    /// returns to.
    pub(crate) configured_enabled: bool,
    /// The approval policy now: the settings', or a run-time choice.
    pub(crate) policy: AtomicU8,
    /// The policy the settings give, what a cleared run-time policy returns to.
    pub(crate) configured_policy: Policy,
    /// One permit per concurrent call; taking them all waits for in-flight calls to end.
    pub(crate) slots: Semaphore,
    /// Calls inside the plugin right now. Counted apart from `slots`, whose free permits
    /// say nothing once retirement starts taking them (or has closed the semaphore).
    pub(crate) running: AtomicUsize,
    pub(crate) config: Arc<Value>,
    pub(crate) fingerprint: Option<Fingerprint>,
    /// The plugin's helper files ([`PluginInfo::helpers`]) as they were when it loaded.
    pub(crate) helpers: Vec<(PathBuf, Option<(SystemTime, u64)>)>,
    /// The input schema, compiled at the first call; `None` when it constrains nothing or
    /// does not compile (then inputs go to the plugin unchecked, as before schemas).
    pub(crate) validator: std::sync::OnceLock<Option<jsonschema::Validator>>,
    /// The run-time group the plugin belongs to (an MCP server's tools), replaced as a whole
    /// by [`crate::PluginManager::replace_group`] and left alone by folder reloads.
    pub(crate) group: Option<String>,
}

impl PluginEntry {
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Refuses an input its schema does not allow, naming where the first mismatch is, before
    /// the plugin sees it. A plain string always passes: plugins written for the original
    /// project take text and read it themselves (`calculator "2+2"`).
    ///
    /// Native plugins check their own input in Rust: their schemas describe the tool form a
    /// model sees (an object), while direct calls may pass them any value (`echo 1`).
    pub(crate) fn check_input(&self, data: &Value) -> Result<(), PluginError> {
        if data.is_string() || self.kind == PluginKind::Native {
            return Ok(());
        }
        let validator = self
            .validator
            .get_or_init(|| compile_schema(&self.info.name, &self.info.input_schema));
        let Some(validator) = validator else {
            return Ok(());
        };
        match validator.validate(data) {
            Ok(()) => Ok(()),
            Err(error) => {
                let path = error.instance_path().to_string();
                let at = if path.is_empty() {
                    "the input".to_owned()
                } else {
                    format!("the input at {path}")
                };
                Err(PluginError::InvalidInput(format!(
                    "{at} does not match the schema of '{}': {error}",
                    self.info.name
                )))
            }
        }
    }

    /// Whether a helper file the plugin loaded changed (or went) since it loaded.
    pub(crate) fn helpers_changed(&self) -> bool {
        self.helpers
            .iter()
            .any(|(path, seen)| &file_stamp(path) != seen)
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// What a model's calls of this plugin need: run, ask a person, or refuse.
    pub fn policy(&self) -> Policy {
        policy_of(self.policy.load(Ordering::Relaxed))
    }

    pub(crate) fn set_policy(&self, policy: Policy) {
        self.policy.store(policy_code(policy), Ordering::Relaxed);
    }

    /// Why the plugin cannot run, when it cannot (see [`Plugin::unavailable_reason`]): it is
    /// listed all the same, but not offered as a tool.
    pub fn unavailable_reason(&self) -> Option<String> {
        self.plugin.unavailable_reason()
    }

    pub fn is_available(&self) -> bool {
        self.unavailable_reason().is_none()
    }

    /// Calls running right now, also while the entry is being retired.
    pub fn in_flight(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Counts a call as running until the returned guard drops.
    pub(crate) fn start_call(&self) -> RunningCall<'_> {
        self.running.fetch_add(1, Ordering::Relaxed);
        RunningCall(&self.running)
    }

    pub fn summary(&self) -> PluginSummary {
        PluginSummary {
            info: self.info.clone(),
            kind: self.kind,
            enabled: self.is_enabled(),
            aliases: self.aliases.clone(),
            updated_at: self.updated_at.map(|time| {
                chrono::DateTime::<chrono::Utc>::from(time)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }),
            shadows: self.shadows.clone(),
        }
    }
}

/// One call counted in [`PluginEntry::in_flight`]; dropping it (the call ended, timed out or
/// was abandoned) uncounts it.
pub(crate) struct RunningCall<'a>(&'a AtomicUsize);

impl Drop for RunningCall<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for PluginEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEntry")
            .field("name", &self.info.name)
            .field("kind", &self.kind)
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

/// A plugin file that could not be loaded, as shown in `load_errors`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadError {
    /// The file, relative to nothing: the path as scanned.
    pub file: String,
    /// The plugin name the file would have had.
    pub plugin: Option<String>,
    pub error: String,
}

/// One immutable view of what is loaded.
#[derive(Default)]
pub(crate) struct Registry {
    /// The plugins that answer calls, in load order (shutdown runs in reverse).
    pub order: Vec<Arc<PluginEntry>>,
    /// Names and aliases → entry.
    pub lookup: HashMap<String, Arc<PluginEntry>>,
    pub load_errors: Vec<LoadError>,
    /// Every built-in plugin that initialized, in load order: those a file shadows are
    /// kept here, alive but out of `order`, and come back when the file goes.
    pub natives: Vec<Arc<PluginEntry>>,
    /// Why built-in plugins did not load; every later registry keeps them.
    pub native_errors: Vec<LoadError>,
}

impl Registry {
    /// An empty registry with this one's built-ins, for the next change to fill.
    pub fn successor(&self) -> Registry {
        Registry {
            natives: self.natives.clone(),
            native_errors: self.native_errors.clone(),
            ..Registry::default()
        }
    }

    /// The entry for a name or alias; a canonical name followed by `_plugin` answers too,
    /// as the original project's first loaders keyed plugins by module name
    /// (`calculator_plugin`).
    pub fn get(&self, name: &str) -> Option<&Arc<PluginEntry>> {
        self.lookup.get(name).or_else(|| {
            let stem = name.strip_suffix(PLUGIN_SUFFIX)?;
            self.lookup
                .get(stem)
                .filter(|entry| entry.info.name == stem)
        })
    }

    /// Built-ins shadowed by a file: alive, out of `order`.
    pub fn shadowed(&self) -> impl Iterator<Item = &Arc<PluginEntry>> {
        self.natives
            .iter()
            .filter(|native| !self.order.iter().any(|e| Arc::ptr_eq(e, native)))
    }

    /// The entry for a name or alias, or `NotFound` with the closest known name.
    /// The plugin answering to `name`; for a name whose file failed to load, that failure
    /// (not "not found"), and for an unknown one, the closest name as a suggestion.
    pub fn resolve(&self, name: &str) -> Result<&Arc<PluginEntry>, PluginError> {
        if let Some(entry) = self.get(name) {
            return Ok(entry);
        }
        let stem = name.strip_suffix(PLUGIN_SUFFIX).unwrap_or(name);
        if let Some(failed) = self
            .load_errors
            .iter()
            .find(|failed| failed.plugin.as_deref() == Some(stem))
        {
            return Err(PluginError::LoadFailed {
                name: stem.to_owned(),
                file: failed.file.clone(),
                error: failed.error.clone(),
            });
        }
        Err(PluginError::NotFound {
            name: name.to_owned(),
            suggestion: self.closest(name),
        })
    }

    fn closest(&self, name: &str) -> Option<String> {
        let wanted = name.to_lowercase();
        self.lookup
            .iter()
            .map(|(key, entry)| (strsim::jaro_winkler(&wanted, &key.to_lowercase()), entry))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, entry)| entry.info.name.clone())
    }
}

#[cfg(test)]
impl PluginEntry {
    /// An entry for unit tests, outside any manager, whose plugin answers `null`.
    pub(crate) fn detached(info: PluginInfo, enabled: bool) -> Arc<PluginEntry> {
        struct Null(PluginInfo);

        #[async_trait::async_trait]
        impl Plugin for Null {
            fn info(&self) -> &PluginInfo {
                &self.0
            }

            async fn execute(
                &self,
                _data: Value,
                _ctx: &codex_plugin::ExecContext,
            ) -> codex_plugin::Result<Value> {
                Ok(Value::Null)
            }
        }

        let limits = Limits::default();
        Arc::new(PluginEntry {
            kind: PluginKind::Native,
            source: None,
            declared_in: None,
            shadows: None,
            updated_at: None,
            aliases: Vec::new(),
            limits,
            plugin: Arc::new(Null(info.clone())),
            enabled: AtomicBool::new(enabled),
            configured_enabled: enabled,
            policy: AtomicU8::new(policy_code(Policy::Allow)),
            configured_policy: Policy::Allow,
            slots: Semaphore::new(limits.max_concurrency),
            running: AtomicUsize::new(0),
            config: Arc::new(Value::Null),
            fingerprint: None,
            helpers: Vec::new(),
            validator: std::sync::OnceLock::new(),
            group: None,
            info,
        })
    }
}

/// A policy as the entry's atomic holds it.
pub(crate) fn policy_code(policy: Policy) -> u8 {
    match policy {
        Policy::Allow => 0,
        Policy::Ask => 1,
        Policy::Deny => 2,
    }
}

fn policy_of(code: u8) -> Policy {
    match code {
        1 => Policy::Ask,
        2 => Policy::Deny,
        _ => Policy::Allow,
    }
}

/// A file and its modification time and length when seen.
pub(crate) type FileStamp = (PathBuf, Option<(SystemTime, u64)>);

/// A file's modification time and length, `None` when it cannot be read.
pub(crate) fn file_stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A plugin's input schema as a validator, or `None` when it allows everything (`{}`, no
/// schema) or does not compile (logged once; the plugin then checks its input itself).
fn compile_schema(plugin: &str, schema: &Value) -> Option<jsonschema::Validator> {
    if schema.as_object().is_none_or(serde_json::Map::is_empty) {
        return None;
    }
    match jsonschema::validator_for(schema) {
        Ok(validator) => Some(validator),
        Err(error) => {
            tracing::warn!(plugin, %error, "the input schema does not compile; inputs go unchecked");
            None
        }
    }
}
