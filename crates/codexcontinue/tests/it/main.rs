//! The `codexcontinue` binary as users run it: CLI commands and a served process.

mod binary;
mod chat;
mod cli;
mod durability;
mod mcp;
mod openai_client;
mod operations;
mod original_frontend;
mod scaffold;
mod schemathesis;
mod serve;
mod shared;
mod web;

use std::path::PathBuf;
use std::process::{ExitStatus, Output};
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

pub use binary::{codexcontinue, serve_in};

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Sends SIGTERM to a served `child` and answers its exit status; panics if it takes longer
/// than `within`.
pub async fn terminate(child: &mut Child, within: Duration) -> ExitStatus {
    let pid = child.id().expect("the server already exited").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::timeout(within, child.wait())
        .await
        .expect("the server did not exit after SIGTERM in time")
        .unwrap()
}

/// The config-file lines that make the scripted OpenAI-protocol server at `base_url` the
/// model (no retries; `timeout_ms` when given).
pub fn scripted_model_config(base_url: &str, timeout_ms: Option<u64>) -> String {
    let timeout = timeout_ms.map_or(String::new(), |ms| format!("timeout_ms = {ms}\n"));
    format!(
        "[[model.providers]]\nname = \"scripted\"\nbase_url = \"{base_url}\"\n\
         model = \"scripted-model\"\n{timeout}max_retries = 0\n"
    )
}

/// The test venv's Python, which scripts/ensure-test-tools.sh makes with the client packages the
/// tests drive (openai, mcp, streamlit); `CODEX_TEST_VENV` points elsewhere.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("CODEX_TEST_VENV").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/codexcontinue/venv")
        },
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/ensure-test-tools.sh (it makes the test venv)",
        python.display()
    );
    python
}

/// Runs a client script that prints one JSON document on stdout, and answers that document;
/// panics with the script's output if it fails or takes longer than `within`.
pub async fn script_json(mut command: Command, within: Duration) -> Value {
    let output = tokio::time::timeout(within, command.kill_on_drop(true).output())
        .await
        .expect("the client script did not finish in time")
        .unwrap();
    let stdout = stdout(&output);
    assert!(output.status.success(), "{stdout}\n{}", stderr(&output));
    serde_json::from_str(stdout.trim()).expect(&stdout)
}
