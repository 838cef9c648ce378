//! `codexcontinue new python|wasm|mcp NAME [--dir DIR]`: writes a plugin that works as it
//! is, to start from: the code, a manifest whose `example` is the test input that
//! `codexcontinue plugins check` runs, and for Wasm a crate set up for wasm32-wasip1.
//! Nothing is overwritten.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{Cli, NewArgs, NewKind};
use crate::settings;

pub fn new(cli: &Cli, args: &NewArgs) -> anyhow::Result<ExitCode> {
    if !codex_plugin::naming::is_valid_name(&args.name) {
        bail!(
            "'{}' is not a plugin name: use letters, digits, '_' and '-' (at most 64)",
            args.name
        );
    }
    let dir = match (&args.dir, args.kind) {
        (Some(dir), _) => dir.clone(),
        (None, NewKind::Wasm) => PathBuf::from("."),
        (None, NewKind::Python | NewKind::Mcp) => settings::load(cli, None)?.host.plugins_dir,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = args.name.as_str();
    let written = match args.kind {
        NewKind::Python => python(&dir, name)?,
        NewKind::Wasm => wasm(&dir, name)?,
        NewKind::Mcp => mcp(&dir, name, &args.python)?,
    };
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!();
    match args.kind {
        NewKind::Python | NewKind::Mcp => {
            let manifest = dir.join(format!("{name}_plugin.toml"));
            let input = match args.kind {
                NewKind::Mcp => " --input '{\"name\": \"Ada\"}'",
                _ => "",
            };
            println!(
                "next: codexcontinue plugins check {}{input}",
                manifest_or_file(args.kind, &dir, name, &manifest).display()
            );
            println!("then: keep it in the plugins folder; a running server loads it at once");
        }
        NewKind::Wasm => {
            let crate_dir = dir.join(name);
            let module = crate_dir
                .join("target/wasm32-wasip1/release")
                .join(format!("{}.wasm", name.replace('-', "_")));
            println!("next: cd {} && cargo build --release", crate_dir.display());
            println!(
                "then: copy {} to <plugins>/{name}_plugin.wasm and {name}_plugin.toml beside it",
                module.display()
            );
            println!("      codexcontinue plugins check <plugins>/{name}_plugin.wasm");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `check` is pointed at: the Python file, or the MCP server's manifest.
fn manifest_or_file(kind: NewKind, dir: &Path, name: &str, manifest: &Path) -> PathBuf {
    match kind {
        NewKind::Python => dir.join(format!("{name}_plugin.py")),
        _ => manifest.to_owned(),
    }
}

/// `hello_world` → `HelloWorld`: the class name the worker looks for first.
fn pascal_case(name: &str) -> String {
    name.split(['_', '-'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

/// Writes each file, refusing to replace one that exists; answers the paths written.
fn write_all(files: &[(PathBuf, String)]) -> anyhow::Result<Vec<PathBuf>> {
    if let Some((path, _)) = files.iter().find(|(path, _)| path.exists()) {
        bail!("{} exists already; nothing was written", path.display());
    }
    for (path, text) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files.iter().map(|(path, _)| path.clone()).collect())
}

fn python(dir: &Path, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let class = pascal_case(name);
    let code = format!(
        r#""""{name}: greets whoever it is given (replace with what your plugin does)."""

from codexcontinue import InvalidInput, PluginInterface


class {class}Plugin(PluginInterface):
    # What models and people read; the schema is what a model fills in.
    description = "Greets someone by name."
    input_schema = {{
        "type": "object",
        "properties": {{"name": {{"type": "string", "description": "Who to greet"}}}},
        "required": ["name"],
    }}

    def initialize(self):
        # Runs once, before the first call: open clients, load models here.
        pass

    def execute(self, data):
        # `data` is the call's JSON input; a plain string is accepted as the name too.
        name = data.get("name") if isinstance(data, dict) else data
        if not isinstance(name, str) or not name.strip():
            # InvalidInput (a ValueError) answers 422 with this message.
            raise InvalidInput('give a name: {{"name": "Ada"}} or "Ada"')
        self.progress(1.0, "greeted")
        return {{"greeting": f"Hello, {{name.strip()}}!"}}

    def shutdown(self):
        pass
"#
    );
    let manifest = format!(
        r#"# Settings of {name}_plugin.py; every key is optional (docs/PLUGINS.md, "Manifest reference").
version = "0.1.0"
timeout_ms = 10000
# The test input `codexcontinue plugins check` runs, and the example the listing shows.
example = {{ name = "Ada" }}
"#
    );
    write_all(&[
        (dir.join(format!("{name}_plugin.py")), code),
        (dir.join(format!("{name}_plugin.toml")), manifest),
    ])
}

fn wasm(dir: &Path, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let root = dir.join(name);
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
extism-pdk = "1"
schemars = "1"
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

# Small, fast modules: the host compiles each once and caches it.
[profile.release]
opt-level = "s"
lto = true
strip = true

# A crate of its own, even inside another workspace.
[workspace]
"#
    );
    let config = "# Plugins run on WASI preview 1.\n[build]\ntarget = \"wasm32-wasip1\"\n";
    let code = r##"//! A CodexContinue plugin in WebAssembly: greets whoever it is given (replace with what
//! your plugin does). Build with `cargo build --release`; docs/PLUGINS.md has the rest.

use extism_pdk::*;
use serde_json::{Value, json};

// The input as an object. The host checks every input against this type's schema (from
// `describe`) before `execute` runs; its doc comments become the schema's descriptions.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Input {
    /// Who to greet.
    name: String,
}

#[host_fn]
extern "ExtismHost" {
    /// Reports progress of the running call: `{"fraction": 0.0..1.0, "message": "..."}`.
    fn codex_progress(report: String);
    /// Hands a panic's message and location to the host before the trap.
    fn codex_panic(message: String);
}

/// Runs once per instance, before its first call.
#[plugin_fn]
pub fn initialize() -> FnResult<()> {
    std::panic::set_hook(Box::new(|info| {
        // SAFETY: a host import taking one string, as the host declares it.
        let _ = unsafe { codex_panic(info.to_string()) };
    }));
    Ok(())
}

/// What the listing shows, and the schema a model fills in.
#[plugin_fn]
pub fn describe() -> FnResult<String> {
    Ok(json!({
        "description": "Greets someone by name.",
        "version": "0.1.0",
        "input_schema": schemars::schema_for!(Input)
    })
    .to_string())
}

/// One call: the input is the call's JSON (a plain string arrives as a JSON string).
#[plugin_fn]
pub fn execute(input: String) -> FnResult<String> {
    // A plain string is the name itself; anything else has the shape of `Input`.
    let name = match serde_json::from_str::<Value>(&input)? {
        Value::String(name) => name,
        other => serde_json::from_value::<Input>(other)?.name,
    };
    let name = name.trim();
    if name.is_empty() {
        // `invalid_input:` makes the error a 422 with the rest of the message.
        return Err(Error::msg(r#"invalid_input: give a name: {"name": "Ada"} or "Ada""#).into());
    }
    // SAFETY: a host import taking one string, as the host declares it.
    unsafe { codex_progress(json!({"fraction": 1.0, "message": "greeted"}).to_string())? };
    Ok(json!({"greeting": format!("Hello, {name}!")}).to_string())
}
"##;
    let manifest = format!(
        r#"# Settings of {name}_plugin.wasm; every key is optional (docs/PLUGINS.md, "Manifest reference").
timeout_ms = 10000
# The test input `codexcontinue plugins check` runs, and the example the listing shows.
example = {{ name = "Ada" }}

[wasm]
memory_limit_mb = 16
"#
    );
    write_all(&[
        (root.join("Cargo.toml"), cargo),
        (root.join(".cargo/config.toml"), config.to_owned()),
        (root.join("src/lib.rs"), code.to_owned()),
        (root.join(format!("{name}_plugin.toml")), manifest),
    ])
}

fn mcp(dir: &Path, name: &str, python: &str) -> anyhow::Result<Vec<PathBuf>> {
    let server_path = std::path::absolute(dir.join(format!("{name}_server.py")))
        .context("cannot resolve the server's path")?;
    let server = format!(
        r#""""{name}: an MCP server (the official `mcp` SDK). CodexContinue serves each of its
tools as the plugin `{name}__<tool>`; any MCP client can use it too."""

try:
    from mcp.server.mcpserver import MCPServer  # mcp 2
except ImportError:
    from mcp.server.fastmcp import FastMCP as MCPServer  # mcp 1

server = MCPServer("{name}")


@server.tool()
def greet(name: str) -> str:
    """Greets someone by name."""
    return f"Hello, {{name}}!"


if __name__ == "__main__":
    server.run()  # over stdin/stdout
"#
    );
    let manifest = format!(
        r#"# Declares the MCP server {name}: its tools become the plugins {name}__<tool>
# (docs/PLUGINS.md, "MCP servers"). The server needs the `mcp` package in that Python.
# Its tools have no example input: check them with
#   codexcontinue plugins check {name}_plugin.toml --input '{{"name": "Ada"}}'
# Editing this manifest or the server's script restarts the server.
[mcp]
command = {python:?}
args = [{server:?}]
timeout_ms = 30000
"#,
        server = server_path.display().to_string(),
    );
    write_all(&[
        (server_path.clone(), server),
        (dir.join(format!("{name}_plugin.toml")), manifest),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_the_pascal_case_of_the_plugin_name() {
        assert_eq!(pascal_case("hello"), "Hello");
        assert_eq!(pascal_case("hello_world"), "HelloWorld");
        assert_eq!(pascal_case("a-b_c"), "ABC");
    }
}
