//! Integration tests of codex-host, one binary with a module per area.

#[cfg(feature = "python")]
mod compat;
#[cfg(all(feature = "python", feature = "wasm"))]
mod manifest;
mod mcp;
#[cfg(feature = "python")]
mod python;
#[cfg(all(feature = "python", feature = "wasm"))]
mod reload;
#[cfg(feature = "python")]
mod shadow;
#[cfg(feature = "wasm")]
mod wasm;
