//! WebAssembly plugins: `<name>_plugin.wasm` run sandboxed by Extism.
//!
//! A module is read once, checked (it must export `execute`) and described (its optional
//! `describe` export) at load; calls then run on instances from a small pool, each call on
//! a blocking thread, always under a timeout and a memory limit.
//! Nothing is granted unless the plugin's manifest says so: no hosts, no paths; WASI is on
//! because modules built for `wasm32-wasip1` need it for their start-up.

mod cache;
mod call;
mod plugin;
mod pool;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use codex_plugin::{Plugin, PluginKind};
use serde_json::Value;

pub use crate::config::WasmOptions;
use crate::discovery::PluginFile;
use crate::manifest::Manifest;
use crate::runtime::{LoadFailure, Runtime};

use self::cache::ModuleCache;
use self::plugin::WasmPlugin;
use self::pool::InstanceFactory;

/// The runtime for `*_plugin.wasm` files (Extism ABI).
pub struct WasmRuntime {
    options: WasmOptions,
    cache: ModuleCache,
}

impl WasmRuntime {
    /// Prepares the compiled-module cache; never fails (a cache that cannot be used is
    /// switched off with a warning).
    pub fn new(options: WasmOptions) -> Self {
        let dir = options.cache_dir.clone().or_else(cache::default_dir);
        let cache = ModuleCache::open(dir.as_deref());
        WasmRuntime { options, cache }
    }

    /// The folder compiled modules are cached in, if the cache is on.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache.dir()
    }
}

impl Default for WasmRuntime {
    fn default() -> Self {
        WasmRuntime::new(WasmOptions::default())
    }
}

#[async_trait]
impl Runtime for WasmRuntime {
    fn kind(&self) -> PluginKind {
        PluginKind::Wasm
    }

    fn extension(&self) -> &'static str {
        "wasm"
    }

    async fn load(
        &self,
        file: &PluginFile,
        manifest: &Manifest,
    ) -> Result<Arc<dyn Plugin>, LoadFailure> {
        let bytes = tokio::fs::read(&file.path)
            .await
            .map_err(|error| LoadFailure::Io {
                what: format!("read {}", file.path.display()),
                error,
            })?;
        let grants = manifest.wasm();
        let limits = CallLimits {
            timeout: manifest
                .timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(self.options.default_timeout),
            memory_limit_mb: grants
                .memory_limit_mb
                .unwrap_or(self.options.default_memory_limit_mb),
        };
        let base_dir = file.path.parent().unwrap_or(Path::new("."));
        let sandbox =
            sandbox_manifest(bytes, manifest, &limits, base_dir).map_err(LoadFailure::Manifest)?;
        let factory = InstanceFactory::new(sandbox, &self.cache);
        let pool_size = grants
            .pool_size
            .unwrap_or(self.options.default_pool_size)
            .max(1);
        let name = file.name.name.clone();
        let started = std::time::Instant::now();
        // Compiling is CPU-bound (seconds for a large module without the cache).
        let plugin =
            tokio::task::spawn_blocking(move || WasmPlugin::load(name, factory, pool_size, limits))
                .await
                .map_err(|e| LoadFailure::Panicked(e.to_string()))?
                .map_err(LoadFailure::Module)?;
        tracing::debug!(
            plugin = %file.name.name,
            duration_ms = started.elapsed().as_millis() as u64,
            pool_size,
            "wasm plugin loaded"
        );
        Ok(Arc::new(plugin))
    }
}

/// The bounds every call of one plugin runs under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallLimits {
    pub timeout: Duration,
    pub memory_limit_mb: u32,
}

/// Wasm pages are 64 KiB: 16 of them make a MiB.
const PAGES_PER_MIB: u32 = 16;

/// The Extism manifest for a module: its bytes, the limits, and exactly the grants the
/// plugin's manifest lists. Relative host paths are taken from the plugin's folder.
fn sandbox_manifest(
    bytes: Vec<u8>,
    manifest: &Manifest,
    limits: &CallLimits,
    base_dir: &Path,
) -> Result<extism::Manifest, String> {
    let max_pages = limits
        .memory_limit_mb
        .checked_mul(PAGES_PER_MIB)
        .filter(|pages| *pages > 0)
        .ok_or_else(|| {
            format!(
                "memory_limit_mb = {} is out of range",
                limits.memory_limit_mb
            )
        })?;
    let timeout_ms = u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX);
    let mut sandbox = extism::Manifest::new([extism::Wasm::data(bytes)]);
    sandbox.memory.max_pages = Some(max_pages);
    sandbox.timeout_ms = Some(timeout_ms.max(1));
    let grants = manifest.wasm();
    // `Some(empty)` and `None` both deny every host; be explicit.
    sandbox.allowed_hosts = Some(grants.allowed_hosts.clone());
    let mut paths = std::collections::BTreeMap::new();
    for (host, guest) in &grants.allowed_paths {
        let (read_only, host_path) = match host.strip_prefix("ro:") {
            Some(rest) => (true, rest),
            None => (false, host.as_str()),
        };
        let resolved = base_dir.join(host_path);
        if !resolved.is_dir() {
            return Err(format!(
                "allowed_paths: '{}' is not a folder",
                resolved.display()
            ));
        }
        let key = format!(
            "{}{}",
            if read_only { "ro:" } else { "" },
            resolved.display()
        );
        paths.insert(key, guest.clone());
    }
    sandbox.allowed_paths = Some(paths);
    sandbox.config = config_strings(manifest.config.as_ref())?;
    Ok(sandbox)
}

/// Extism config values are strings: strings pass as they are, other values as JSON text.
fn config_strings(
    config: Option<&Value>,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    match config {
        None | Some(Value::Null) => Ok(Default::default()),
        Some(Value::Object(table)) => Ok(table
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect()),
        Some(other) => Err(format!("config must be a table, not {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use serde_json::json;

    fn limits() -> CallLimits {
        CallLimits {
            timeout: Duration::from_millis(1500),
            memory_limit_mb: 8,
        }
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let sandbox =
            sandbox_manifest(vec![], &Manifest::default(), &limits(), Path::new(".")).unwrap();
        assert_eq!(sandbox.allowed_hosts, Some(vec![]));
        assert_eq!(sandbox.allowed_paths, Some(Default::default()));
        assert!(sandbox.config.is_empty());
        assert_eq!(sandbox.memory.max_pages, Some(8 * 16));
        assert_eq!(sandbox.timeout_ms, Some(1500));
    }

    #[test]
    fn grants_come_from_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let manifest = Manifest::parse(
            r#"
            [wasm]
            allowed_hosts = ["example.com"]
            [wasm.allowed_paths]
            "ro:data" = "/data"
            [config]
            greeting = "hi"
            retries = 3
            "#,
        )
        .unwrap();
        let sandbox = sandbox_manifest(vec![], &manifest, &limits(), dir.path()).unwrap();
        assert_eq!(sandbox.allowed_hosts, Some(vec!["example.com".to_owned()]));
        let paths = sandbox.allowed_paths.unwrap();
        let expected = format!("ro:{}", dir.path().join("data").display());
        assert_eq!(paths[&expected], PathBuf::from("/data"));
        assert_eq!(sandbox.config["greeting"], "hi");
        assert_eq!(sandbox.config["retries"], "3");
    }

    #[test]
    fn a_missing_granted_folder_is_a_load_error() {
        let manifest =
            Manifest::parse("[wasm.allowed_paths]\n\"/no/such/dir\" = \"/data\"").unwrap();
        let err = sandbox_manifest(vec![], &manifest, &limits(), Path::new(".")).unwrap_err();
        assert!(err.contains("/no/such/dir"), "{err}");
    }

    #[test]
    fn config_must_be_a_table() {
        assert!(config_strings(Some(&json!("x"))).is_err());
        assert!(config_strings(None).unwrap().is_empty());
    }
}
