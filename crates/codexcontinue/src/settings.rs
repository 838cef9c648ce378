//! Configuration: defaults, then a TOML file, then `CODEX_*` environment variables, then
//! flags. Unknown keys are errors that name the key; the result is checked before use.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use codex_agent::chat::ChatConfig;
use codex_host::{HostConfig, Limits, PluginSettings, PythonOptions};
use codex_server::ServerConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::cli::Cli;

/// The file a config is read from when none is named.
const DEFAULT_CONFIG_FILE: &str = "codexcontinue.toml";

/// Every key of the config file. `CODEX_<KEY>` sets a top-level key from the
/// environment; `CODEX_<SECTION>__<KEY>` a nested one (`CODEX_LIMITS__TIMEOUT_MS`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Address the server listens on.
    pub bind: String,
    /// Folder plugins are loaded from.
    pub plugins_dir: PathBuf,
    /// Watch the plugins folder and reload on change.
    pub watch: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Keys accepted as `Authorization: Bearer <key>` or `X-API-Key`. Required to bind
    /// anywhere but loopback.
    pub api_keys: Vec<String>,
    /// Chat turns per second that may ask the model providers, across every key, as `N/s`
    /// or `N/m` (`/run` commands do not count); unset: no limit.
    pub model_rate: Option<String>,
    /// Browser origins allowed to call `/mcp` besides loopback ones, as sent in `Origin`
    /// (`https://app.example.com`).
    pub mcp_allowed_origins: Vec<String>,
    /// A plugin failure's traceback in the error a caller reads (`error.traceback`); never
    /// while any API key is configured or stored.
    pub debug: bool,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_grace_ms: u64,
    /// How long a plugin's `initialize` may take.
    pub init_timeout_ms: u64,
    /// Log filter, as `RUST_LOG` takes it; `RUST_LOG` wins when set.
    pub log: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Limits for every plugin unless `[plugins.<name>]` says otherwise.
    pub limits: Limits,
    /// alias → plugin name, added to the defaults (`interpreter`, `oi` → `shell`; `test` → `echo`).
    pub aliases: BTreeMap<String, String>,
    /// Per-plugin settings: `enabled`, `timeout_ms`, `max_output_bytes`, `max_concurrency`, `config`.
    pub plugins: BTreeMap<String, PluginSettings>,
    /// Python plugins: defaults for every `*_plugin.py`.
    pub python: PythonSection,
    /// WebAssembly plugins: defaults for every `*_plugin.wasm`.
    pub wasm: WasmSection,
    /// Sessions and events: `sqlite://<path>` or `postgres://...`.
    pub database_url: String,
    /// SQLite only: `normal` (an acknowledged write survives a crash or `kill -9` of the
    /// server) or `full` (it also survives a power loss, at the price of an fsync per commit).
    pub sqlite_synchronous: SqliteSynchronous,
    /// SQLite only: how long, in microseconds, the writer waits for more appends before a
    /// commit while at least `sqlite_commit_siblings` plugin calls are running (0: commit at
    /// once).
    pub sqlite_commit_delay_us: u64,
    /// SQLite only: how many plugin calls must be running for the writer to wait.
    pub sqlite_commit_siblings: usize,
    /// Session memory.
    pub memory: MemorySection,
    /// The model chat turns use: `system_prompt`, `max_steps` and `[[model.providers]]`, a
    /// fallback chain of OpenAI-compatible servers. None configured: `/run` still works.
    pub model: ChatConfig,
    /// MCP servers whose tools become plugins `<server>__<tool>`: `[mcp.servers.<name>]`.
    pub mcp: McpSection,
}

/// `[mcp]`: the MCP servers to run as plugins.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpSection {
    /// `[mcp.servers.<name>]`: `command`, `args`, `env`, `cwd` (stdio) or `url`, `headers`
    /// (streamable HTTP); `enabled`, `timeout_ms`, `tools` (allow-list).
    pub servers: BTreeMap<String, codex_host::McpServerConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemorySection {
    /// Messages in a session's short memory (the last ones since the last reset).
    pub short_limit: usize,
}

impl Default for MemorySection {
    fn default() -> Self {
        MemorySection {
            short_limit: codex_agent::DEFAULT_SHORT_LIMIT,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PythonSection {
    /// Interpreter for the workers; a manifest's `interpreter` overrides it per plugin.
    pub interpreter: PathBuf,
    /// Workers per plugin; a manifest's `pool_size` overrides it per plugin.
    pub pool_size: usize,
    /// Where the virtual environments of plugins whose manifest lists `requirements` are
    /// made; default `$XDG_CACHE_HOME/codexcontinue/python-envs` or
    /// `~/.cache/codexcontinue/python-envs`.
    pub envs_dir: Option<PathBuf>,
    /// Fork each worker from one fork server per interpreter, sharing its memory (Linux);
    /// `false` starts every worker as a fresh interpreter.
    pub fork_server: bool,
    /// Give a worker whose calls take under a millisecond its next call while it runs the
    /// current one; `false` sends each worker one call at a time.
    pub pipeline: bool,
}

/// The host's defaults, so they are written down once.
impl Default for PythonSection {
    fn default() -> Self {
        let PythonOptions {
            interpreter,
            pool_size,
            fork_server,
            pipeline,
            ..
        } = PythonOptions::default();
        PythonSection {
            interpreter,
            pool_size,
            envs_dir: None,
            fork_server,
            pipeline,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WasmSection {
    /// Compiled-module cache; default `$XDG_CACHE_HOME/codexcontinue/wasm` or
    /// `~/.cache/codexcontinue/wasm`.
    pub cache_dir: Option<PathBuf>,
    /// Linear memory cap per instance in MiB when the manifest has none; the host's
    /// default ([`codex_host::WasmOptions::default_memory_limit_mb`]) when absent.
    pub memory_limit_mb: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Normal,
    Full,
}

impl SqliteSynchronous {
    pub fn durability(self) -> codex_store::SqliteDurability {
        match self {
            SqliteSynchronous::Normal => codex_store::SqliteDurability::Normal,
            SqliteSynchronous::Full => codex_store::SqliteDurability::Full,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for FileConfig {
    /// The host's settings start from [`HostConfig::default`], so each default is written
    /// down once, in the crate that uses it.
    fn default() -> Self {
        let host = HostConfig::default();
        FileConfig {
            bind: "127.0.0.1:8000".to_owned(),
            plugins_dir: host.plugins_dir,
            watch: host.watch,
            max_body_bytes: 1024 * 1024,
            api_keys: Vec::new(),
            model_rate: None,
            mcp_allowed_origins: Vec::new(),
            debug: true,
            shutdown_grace_ms: 10_000,
            init_timeout_ms: u64::try_from(host.init_timeout.as_millis()).unwrap_or(u64::MAX),
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            limits: host.limits,
            aliases: host.aliases,
            plugins: host.plugins,
            python: PythonSection::default(),
            wasm: WasmSection::default(),
            database_url: codex_store::DEFAULT_DATABASE_URL.to_owned(),
            sqlite_synchronous: SqliteSynchronous::Normal,
            sqlite_commit_delay_us: codex_store::StoreOptions::default()
                .commit_delay
                .as_micros() as u64,
            sqlite_commit_siblings: codex_store::StoreOptions::default().commit_siblings,
            memory: MemorySection::default(),
            model: ChatConfig::default(),
            mcp: McpSection::default(),
        }
    }
}

/// Checked settings, ready to build the application from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub host: HostConfig,
    pub server: ServerConfig,
    pub shutdown_grace: Duration,
    pub log: String,
    pub log_format: LogFormat,
    pub python: PythonSection,
    pub wasm: WasmSection,
    pub database_url: String,
    pub sqlite_synchronous: SqliteSynchronous,
    pub sqlite_commit_delay: Duration,
    pub sqlite_commit_siblings: usize,
    /// The model chain and the chat turn's settings.
    pub model: ChatConfig,
    /// The file the config came from, if any.
    pub source: Option<PathBuf>,
}

/// Reads config for `cli`, with `bind` from `serve --bind` when given.
pub fn load(cli: &Cli, bind_flag: Option<&str>) -> anyhow::Result<Settings> {
    let (file, source) = read(cli.config.as_deref())?;
    let mut file = file;
    if let Some(dir) = &cli.plugins_dir {
        file.plugins_dir = dir.clone();
    }
    if let Some(url) = &cli.database_url {
        file.database_url = url.clone();
    }
    if let Some(bind) = bind_flag {
        file.bind = bind.to_owned();
    }
    check(file, source)
}

/// Layers defaults, the file and the environment.
fn read(config: Option<&Path>) -> anyhow::Result<(FileConfig, Option<PathBuf>)> {
    let mut figment = Figment::from(Serialized::defaults(FileConfig::default()));
    let source = match config {
        Some(path) => {
            if !path.is_file() {
                bail!("config file {} does not exist", path.display());
            }
            Some(path.to_owned())
        }
        None => {
            let default = PathBuf::from(DEFAULT_CONFIG_FILE);
            default.is_file().then_some(default)
        }
    };
    if let Some(path) = &source {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(environment());
    let file: FileConfig = figment.extract().map_err(|e| {
        let errors: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("invalid configuration: {}", errors.join("; "))
    })?;
    Ok((file, source))
}

/// `CODEX_*` variables for the keys we know; other `CODEX_*` variables (set for other
/// tools) are left alone rather than rejected.
fn environment() -> Env {
    const KEYS: &[&str] = &[
        "bind",
        "plugins_dir",
        "watch",
        "max_body_bytes",
        "api_keys",
        "mcp_allowed_origins",
        "debug",
        "model_rate",
        "shutdown_grace_ms",
        "init_timeout_ms",
        "log",
        "log_format",
        "limits",
        "aliases",
        "plugins",
        "python",
        "wasm",
        "database_url",
        "sqlite_synchronous",
        "sqlite_commit_delay_us",
        "sqlite_commit_siblings",
        "memory",
        "model",
        "mcp",
    ];
    Env::prefixed("CODEX_").split("__").filter(|key| {
        // Keys keep the environment's case here; compare without it.
        let top = key.as_str().split('.').next().unwrap_or_default();
        KEYS.iter().any(|k| k.eq_ignore_ascii_case(top))
    })
}

fn check(file: FileConfig, source: Option<PathBuf>) -> anyhow::Result<Settings> {
    let bind: SocketAddr = file
        .bind
        .parse()
        .with_context(|| format!("bind address '{}' is not IP:PORT", file.bind))?;
    if !bind.ip().is_loopback() && file.api_keys.is_empty() {
        bail!(
            "refusing to listen on {bind} without API keys: set api_keys in the config \
             (or CODEX_API_KEYS) to bind anywhere but loopback"
        );
    }
    if file.api_keys.iter().any(|k| k.trim().len() < 16) {
        bail!("every API key must be at least 16 characters long");
    }
    if file.memory.short_limit == 0 {
        bail!("memory.short_limit must be at least 1");
    }
    codex_store::BackendKind::from_url(&file.database_url)?;
    check_model(&file.model)?;
    if file.python.pool_size == 0 {
        bail!("python.pool_size must be at least 1");
    }
    if file.limits.max_concurrency == 0 || file.limits.timeout_ms == 0 {
        bail!("limits.max_concurrency and limits.timeout_ms must be greater than 0");
    }
    for (alias, target) in &file.aliases {
        if !codex_plugin::naming::is_valid_name(alias) {
            bail!("alias '{alias}' is not a valid plugin name");
        }
        if alias == target {
            bail!("alias '{alias}' points to itself");
        }
    }
    let mut host = HostConfig::new(&file.plugins_dir);
    host.limits = file.limits;
    host.aliases = file.aliases;
    host.plugins = file.plugins;
    host.watch = file.watch;
    host.init_timeout = Duration::from_millis(file.init_timeout_ms);
    for (name, server) in &file.mcp.servers {
        if !codex_plugin::naming::is_valid_name(name) || name.contains("__") {
            bail!(
                "mcp.servers.{name}: a server name is letters, digits, '_' and '-', without '__'"
            );
        }
        server
            .validate()
            .map_err(|e| anyhow::anyhow!("mcp.servers.{name}: {e}"))?;
    }
    host.mcp_servers = file.mcp.servers;
    Ok(Settings {
        bind,
        host,
        server: ServerConfig {
            max_body_bytes: file.max_body_bytes,
            api_keys: file.api_keys,
            short_limit: file.memory.short_limit,
            mcp_allowed_origins: file.mcp_allowed_origins,
            debug: file.debug,
            model_rate_per_second: file
                .model_rate
                .as_deref()
                .map(parse_rate)
                .transpose()
                .context("model_rate")?,
        },
        shutdown_grace: Duration::from_millis(file.shutdown_grace_ms),
        log: file.log,
        log_format: file.log_format,
        python: file.python,
        wasm: file.wasm,
        database_url: file.database_url,
        sqlite_synchronous: file.sqlite_synchronous,
        sqlite_commit_delay: Duration::from_micros(file.sqlite_commit_delay_us),
        sqlite_commit_siblings: file.sqlite_commit_siblings.max(1),
        model: file.model,
        source,
    })
}

/// A chain that cannot work is refused at start rather than at the first chat.
fn check_model(model: &ChatConfig) -> anyhow::Result<()> {
    if model.max_steps == 0 {
        bail!("model.max_steps must be at least 1");
    }
    for provider in &model.providers {
        if provider.name.trim().is_empty() {
            bail!("every [[model.providers]] needs a name");
        }
        let name = &provider.name;
        if !(provider.base_url.starts_with("http://") || provider.base_url.starts_with("https://"))
        {
            bail!(
                "model provider '{name}': base_url '{}' is not an http(s) URL",
                provider.base_url
            );
        }
        if provider.model.trim().is_empty() {
            bail!("model provider '{name}': model is empty");
        }
        if provider.timeout_ms == 0 {
            bail!("model provider '{name}': timeout_ms must be greater than 0");
        }
    }
    Ok(())
}

/// `N/s`, `N/m` (or `N/min`), `N/h`, or a bare `N` per second, as requests per second.
pub fn parse_rate(text: &str) -> anyhow::Result<f64> {
    let (count, per) = text.split_once('/').unwrap_or((text, "s"));
    let count: f64 = count
        .trim()
        .parse()
        .with_context(|| format!("rate {text:?}: expected N/s or N/m"))?;
    let seconds = match per.trim() {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        other => bail!("rate {text:?}: unknown period {other:?} (use s, m or h)"),
    };
    if !(count.is_finite() && count > 0.0) {
        bail!("rate {text:?}: the count must be positive");
    }
    Ok(count / seconds)
}

#[cfg(test)]
mod tests;
