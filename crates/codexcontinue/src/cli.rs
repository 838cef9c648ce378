//! Command-line flags, exactly as typed; `settings` turns them into checked settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "codexcontinue",
    version,
    about = "Self-hosted plugin backend for an AI developer assistant"
)]
pub struct Cli {
    /// Config file (TOML). Defaults to ./codexcontinue.toml when present.
    #[arg(long, global = true, env = "CODEX_CONFIG")]
    pub config: Option<PathBuf>,

    /// Folder to load plugins from (default ./plugins).
    #[arg(long, global = true)]
    pub plugins_dir: Option<PathBuf>,

    /// Database of sessions and events: `sqlite://<path>` (default sqlite://codexcontinue.db)
    /// or `postgres://...`.
    #[arg(long, global = true)]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Run one plugin in-process and print its result as JSON.
    Run(RunArgs),
    /// List plugins, or show one.
    Plugins(PluginsArgs),
    /// Serve the enabled plugins as MCP tools over stdin/stdout (for MCP clients that start
    /// their servers, such as Claude Desktop or an IDE).
    Mcp,
    /// Apply pending database migrations and exit (`serve` and `run` apply them too).
    Migrate,
    /// Create, list and revoke the API keys kept in the database.
    Keys(KeysArgs),
    /// A terminal chat: `/run <plugin> <input>`, streamed model replies, `/session <id>`, `/exit`.
    Chat(ChatArgs),
    /// Write a working plugin to start from: `new python NAME`, `new wasm NAME`, `new mcp NAME`.
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// `python` (a `NAME_plugin.py` and its manifest), `wasm` (a Rust crate building
    /// `NAME.wasm` for wasm32-wasip1) or `mcp` (a Python MCP server and the manifest that
    /// declares it).
    pub kind: NewKind,
    /// The plugin's name: letters, digits, `_` and `-`.
    pub name: String,
    /// Where to write it (default: the plugins folder for `python` and `mcp`, the current
    /// folder for `wasm`, whose crate gets a folder of its own).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// For `mcp`: the Python that runs the server, with the `mcp` package installed.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NewKind {
    Python,
    Wasm,
    Mcp,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8000).
    #[arg(long)]
    pub bind: Option<String>,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Session the turns are stored under (default: a new id, printed at start).
    #[arg(long)]
    pub session: Option<String>,
    /// Which of the model's tool calls are asked about at the terminal: auto (each plugin's
    /// policy), approve (every call) or smart (calls of plugins that act); default: the
    /// config's `[model] approval`.
    #[arg(long, value_parser = parse_approval)]
    pub approval: Option<codex_plugin::ApprovalMode>,
}

fn parse_approval(text: &str) -> Result<codex_plugin::ApprovalMode, String> {
    codex_plugin::ApprovalMode::parse(text)
        .ok_or_else(|| format!("'{text}': use auto, approve or smart"))
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Plugin name or alias.
    pub plugin: String,
    /// The input. Words are joined with spaces; input starting with `{`, `[` or `"` is
    /// parsed as JSON, anything else is passed as a string.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub input: Vec<String>,
    /// Session the execution is recorded under.
    #[arg(long, default_value = "default")]
    pub session: String,
}

#[derive(Debug, Args)]
pub struct PluginsArgs {
    #[command(subcommand)]
    pub command: Option<PluginsCommand>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List every plugin (the default).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one plugin's metadata and input schema.
    Info { name: String },
    /// Switch a plugin on for every server sharing the database (stored; survives restarts).
    Enable { name: String },
    /// Switch a plugin off for every server sharing the database (stored; survives restarts).
    Disable { name: String },
    /// Clear a plugin's stored switch: every server sharing the database turns it on or off
    /// again as its own configuration says.
    Reset { name: String },
    /// Load one plugin file (with its manifest) or folder as the server would, and run each
    /// plugin's example input: prints what loaded, the results, and every error.
    Check {
        /// A `*_plugin.py`, `*_plugin.wasm` or `*_plugin.toml` file, or a folder of them.
        path: PathBuf,
        /// The input to run instead of the manifest's `example` (JSON, or a plain string).
        #[arg(long)]
        input: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once (only its hash is stored).
    Create {
        /// A unique name: who uses the key. It owns the key's sessions and signs its events.
        #[arg(long)]
        name: String,
        /// `admin` may do everything; `user` runs granted plugins on its own sessions.
        #[arg(long, default_value = "user")]
        role: String,
        /// Plugins a user key may run, comma-separated patterns (`calculator,github__*`).
        #[arg(long, value_delimiter = ',')]
        plugins: Vec<String>,
        /// Requests the key may make, as `N/s` or `N/m` (a token bucket).
        #[arg(long)]
        rate: Option<String>,
    },
    /// List keys: name, role, grants, created, last used (never the key).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once, on every server sharing the database.
    Revoke { name: String },
}
