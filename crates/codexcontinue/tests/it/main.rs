//! The `codexcontinue` binary as users run it: CLI commands and a served process.

mod chat;
mod cli;
mod durability;
mod mcp;
mod openai_client;
mod serve;

use std::path::Path;
use std::process::{Command, Output};

/// The binary under test, run in `dir` with a clean `CODEX_*` environment.
pub fn codexcontinue(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codexcontinue"));
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CODEX_") {
            command.env_remove(key);
        }
    }
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
