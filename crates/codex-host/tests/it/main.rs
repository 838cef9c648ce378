//! Integration tests of codex-host, one binary with a module per area.

mod mcp;
#[cfg(feature = "python")]
mod python;
#[cfg(all(feature = "python", feature = "wasm"))]
mod reload;
#[cfg(feature = "wasm")]
mod wasm;
