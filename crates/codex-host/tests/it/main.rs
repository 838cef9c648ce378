//! Integration tests of codex-host, one binary with a module per area.

#[cfg(feature = "python")]
mod python;
#[cfg(feature = "wasm")]
mod wasm;
