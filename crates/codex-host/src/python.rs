//! Python plugins: `<name>_plugin.py` run in worker processes speaking line-delimited
//! JSON-RPC 2.0 on stdin/stdout.
//!
//! A plugin file gets a pool of workers (one unless its manifest or the options say
//! otherwise), started at load: each imports the file, finds its plugin (the class named the
//! PascalCase of the stem, else a module-level instance, else the one class subclassing a
//! plugin base class) and reports its metadata. [`Plugin::initialize`] runs the plugin's
//! `initialize()` in every worker (and in every replacement started later) with the
//! manifest's `[config]` table as `self.config` (and as its argument if it takes one),
//! `execute` sends the input and the session id to an idle worker (or, for a plugin whose
//! calls are fast, queues it behind a busy worker's running call), which calls
//! `execute(data)` or, for the original `app.brain.core.base.CodexTool`,
//! `run(text, session_id)`; [`Plugin::shutdown`] runs `shutdown()` and lets the workers
//! exit, killing those that do not.
//!
//! Isolation: a call abandoned at its deadline or cancellation kills its worker and a
//! replacement is started at once; a worker that dies is replaced after a backoff
//! (100 ms doubling to 5 s) and the failing call gets [`PluginError::Crashed`] with the
//! worker's stderr tail.

mod calls;
mod env;
#[cfg(target_os = "linux")]
mod fork;
mod pool;
pub(crate) mod protocol;
mod shim;
pub(crate) mod worker;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo, PluginKind};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use crate::config::PythonOptions;
use crate::discovery::PluginFile;
use crate::manifest::Manifest;
use crate::runtime::{LoadFailure, Runtime};
use pool::Pool;
use shim::ShimDir;
use worker::WorkerSpec;

/// The most workers one plugin may ask for.
const MAX_POOL_SIZE: usize = 64;

/// Loads `*_plugin.py` files into worker pools.
pub struct PythonRuntime {
    options: PythonOptions,
    /// The worker script and shim packages, written on first load.
    shim: Mutex<Option<Arc<ShimDir>>>,
    /// Parent of every worker's kill token: cancelled at shutdown and on drop.
    workers: CancellationToken,
    /// One fork server per interpreter, when `options.fork_server` is on.
    #[cfg(target_os = "linux")]
    fork_servers: Option<Arc<fork::ForkServers>>,
}

impl PythonRuntime {
    pub fn new(options: PythonOptions) -> Self {
        let workers = CancellationToken::new();
        PythonRuntime {
            #[cfg(target_os = "linux")]
            fork_servers: options.fork_server.then(|| {
                Arc::new(fork::ForkServers::new(
                    options.start_timeout,
                    workers.child_token(),
                ))
            }),
            options,
            shim: Mutex::new(None),
            workers,
        }
    }

    /// The pid of the fork server that forks the workers of `interpreter`, while one runs.
    pub async fn fork_server_pid(&self, interpreter: &Path) -> Option<u32> {
        #[cfg(target_os = "linux")]
        if let Some(servers) = &self.fork_servers {
            return servers.server_pid(interpreter).await;
        }
        let _ = interpreter;
        None
    }

    fn shim(&self) -> Result<Arc<ShimDir>, LoadFailure> {
        let mut shim = self.shim.lock();
        if let Some(dir) = shim.as_ref() {
            return Ok(dir.clone());
        }
        let dir = Arc::new(ShimDir::create().map_err(|error| LoadFailure::Io {
            what: "write the Python worker files".to_owned(),
            error,
        })?);
        *shim = Some(dir.clone());
        Ok(dir)
    }
}

impl Default for PythonRuntime {
    fn default() -> Self {
        PythonRuntime::new(PythonOptions::default())
    }
}

impl Drop for PythonRuntime {
    fn drop(&mut self) {
        self.workers.cancel();
    }
}

#[async_trait]
impl Runtime for PythonRuntime {
    fn kind(&self) -> PluginKind {
        PluginKind::Python
    }

    fn extension(&self) -> &'static str {
        "py"
    }

    async fn load(
        &self,
        file: &PluginFile,
        manifest: &Manifest,
    ) -> Result<Arc<dyn Plugin>, LoadFailure> {
        let shim = self.shim()?;
        let configured = manifest
            .python()
            .interpreter
            .as_deref()
            .unwrap_or(&self.options.interpreter);
        let mut interpreter = resolve_interpreter(configured, &file.path);
        let requirements = &manifest.python().requirements;
        if !requirements.is_empty() {
            let envs_dir = self
                .options
                .envs_dir
                .clone()
                .or_else(|| crate::config::user_cache_dir("python-envs"))
                .ok_or_else(|| {
                    LoadFailure::Start(
                        "no folder for the plugin's Python environment: set python.envs_dir \
                         (or HOME)"
                            .to_owned(),
                    )
                })?;
            interpreter = env::ensure(
                &file.name.name,
                &interpreter,
                requirements,
                &envs_dir,
                self.options.install_timeout,
            )
            .await
            .map_err(LoadFailure::Start)?;
        }
        let size = manifest
            .python()
            .pool_size
            .unwrap_or(self.options.pool_size)
            .clamp(1, MAX_POOL_SIZE);
        let plugin: Arc<str> = Arc::from(file.name.name.as_str());
        let spec = WorkerSpec {
            plugin: plugin.clone(),
            interpreter: interpreter.clone(),
            plugin_path: file.path.clone(),
            class_name: file.name.class_name(),
            pythonpath: pythonpath(shim.path()),
            shim,
            max_line_bytes: self.options.max_line_bytes,
            stderr_tail_bytes: self.options.stderr_tail_bytes,
            config: manifest
                .config
                .clone()
                .unwrap_or_else(|| Value::Object(Default::default())),
            #[cfg(target_os = "linux")]
            fork_servers: self.fork_servers.clone(),
        };
        let (pool, describe) = Pool::start(
            spec,
            size,
            self.options.pipeline,
            self.options.start_timeout,
            &self.workers,
        )
        .await
        .map_err(LoadFailure::Start)?;
        let info = info_from(&file.name.name, describe);
        tracing::info!(plugin = %plugin, workers = size, interpreter = %interpreter.display(), "python plugin loaded");
        Ok(Arc::new(PythonPlugin {
            info,
            pool,
            shutdown_grace: self.options.shutdown_grace,
        }))
    }

    async fn shutdown(&self) {
        self.workers.cancel();
    }
}

/// A relative interpreter path with a folder in it (`.venv/bin/python`) is taken
/// relative to the plugin's folder; a bare name (`python3.12`) is looked up in `PATH`.
fn resolve_interpreter(configured: &Path, plugin_path: &Path) -> PathBuf {
    if configured.is_relative()
        && configured.components().count() > 1
        && let Some(dir) = plugin_path.parent()
    {
        return dir.join(configured);
    }
    configured.to_owned()
}

/// The shim folder first, then the host's own `PYTHONPATH`.
fn pythonpath(shim: &Path) -> OsString {
    let mut paths = vec![shim.to_owned()];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).unwrap_or_else(|_| shim.as_os_str().to_owned())
}

/// What a worker's `describe` reports; every field optional.
#[derive(Debug, Default, Deserialize)]
struct Described {
    description: Option<String>,
    version: Option<String>,
    author: Option<String>,
    category: Option<String>,
    example: Option<Value>,
    input_schema: Option<Value>,
    updated_at: Option<String>,
    requirements: Option<Vec<String>>,
    helpers: Option<Vec<std::path::PathBuf>>,
}

fn info_from(name: &str, describe: Value) -> PluginInfo {
    let described: Described = serde_json::from_value(describe).unwrap_or_else(|e| {
        tracing::warn!(plugin = name, error = %e, "python plugin metadata ignored");
        Described::default()
    });
    let mut info = PluginInfo::new(name);
    if let Some(v) = described.description {
        info.description = v;
    }
    if let Some(v) = described.version {
        info.version = v;
    }
    if let Some(v) = described.author {
        info.author = v;
    }
    if let Some(v) = described.category {
        info.category = v;
    }
    info.example = described.example;
    if let Some(v) = described.input_schema {
        info.input_schema = v;
    }
    info.updated_at = described.updated_at;
    info.requirements = described.requirements.unwrap_or_default();
    info.helpers = described.helpers.unwrap_or_default();
    info
}

/// A loaded Python plugin: its metadata and its worker pool.
pub struct PythonPlugin {
    info: PluginInfo,
    pool: Pool,
    shutdown_grace: Duration,
}

#[async_trait]
impl Plugin for PythonPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn initialize(&self) -> codex_plugin::Result<()> {
        self.pool.initialize().await
    }

    /// Stops at the context's deadline or cancellation even if the host does not; in
    /// both cases the abandoned call kills its worker (see [`pool`]).
    async fn execute(&self, data: Value, ctx: &ExecContext) -> codex_plugin::Result<Value> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(ctx.deadline);
        tokio::select! {
            biased;
            result = self.pool.execute(&data, &ctx.session_id, ctx.progress.as_ref()) => result,
            () = ctx.cancel.cancelled() => Err(self.abandoned(ctx, started)),
            () = tokio::time::sleep_until(deadline) => Err(self.abandoned(ctx, started)),
        }
    }

    async fn shutdown(&self) -> codex_plugin::Result<()> {
        self.pool.shutdown(self.shutdown_grace).await
    }
}

impl PythonPlugin {
    fn abandoned(&self, ctx: &ExecContext, started: Instant) -> PluginError {
        if ctx.remaining().is_zero() {
            PluginError::Timeout {
                plugin: self.info.name.clone(),
                after: started.elapsed(),
            }
        } else {
            PluginError::Cancelled
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn interpreter_paths_with_folders_are_relative_to_the_plugin() {
        let plugin = Path::new("/srv/plugins/x_plugin.py");
        let check = |configured: &str, expected: &str| {
            assert_eq!(
                resolve_interpreter(Path::new(configured), plugin),
                PathBuf::from(expected)
            );
        };
        check("python3", "python3");
        check(".venv/bin/python", "/srv/plugins/.venv/bin/python");
        check("/usr/bin/python3", "/usr/bin/python3");
    }

    #[test]
    fn metadata_comes_from_describe() {
        let info = info_from(
            "stats",
            json!({"description": "Counts", "version": "2.0", "input_schema": {"type": "string"},
                   "updated_at": "2025-05-04", "requirements": ["regex"], "pid": 1}),
        );
        assert_eq!(info.name, "stats");
        assert_eq!(info.description, "Counts");
        assert_eq!(info.version, "2.0");
        assert_eq!(info.category, "general");
        assert_eq!(info.input_schema, json!({"type": "string"}));
        assert_eq!(info.updated_at.as_deref(), Some("2025-05-04"));
        assert_eq!(info.requirements, ["regex"]);
    }
}
