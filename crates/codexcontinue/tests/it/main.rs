//! The `codexcontinue` binary as users run it: CLI commands and a served process.

mod binary;
mod chat;
mod cli;
mod durability;
mod mcp;
mod openai_client;
mod serve;

use std::process::Output;

pub use binary::{codexcontinue, serve_in};

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
