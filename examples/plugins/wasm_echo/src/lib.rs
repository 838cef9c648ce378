//! `wasm_echo`: answers `{"echo": <input>}`, the WebAssembly twin of the built-in `echo`,
//! used by bench/plugins.sh to measure what the Wasm call path costs.
//!
//! The input is the JSON of the call's `data`, already valid JSON, so it is wrapped as
//! text without being parsed: the benchmark measures the host, not serde in the guest.

use extism_pdk::*;

/// Runs one call: wraps the input in an `echo` object.
#[plugin_fn]
pub fn execute(input: String) -> FnResult<String> {
    Ok(format!("{{\"echo\":{input}}}"))
}

/// The plugin's metadata, read once by the host at load.
#[plugin_fn]
pub fn describe() -> FnResult<String> {
    Ok(r#"{
        "description": "Returns its input as {\"echo\": input}.",
        "version": "1.0.0",
        "author": "CodexContinue",
        "category": "utility",
        "example": "hello"
    }"#
    .to_owned())
}
