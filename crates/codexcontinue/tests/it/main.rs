//! The `codexcontinue` binary as users run it: CLI commands and a served process.

mod binary;
mod chat;
mod cli;
mod durability;
mod mcp;
mod openai_client;
mod operations;
mod original_frontend;
mod schemathesis;
mod serve;
mod web;

use std::process::{ExitStatus, Output};
use std::time::Duration;

use tokio::process::Child;

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
