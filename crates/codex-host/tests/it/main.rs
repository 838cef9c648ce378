//! Integration tests of codex-host, one binary with a module per area.

#[cfg(feature = "wasm")]
mod wasm;
