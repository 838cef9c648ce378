//! The PluginManager: discovers plugins in a folder, keeps the registry, runs calls
//! within limits, and reloads when the folder changes.
//!
//! Every runtime sits behind the one [`codex_plugin::Plugin`] trait; this crate knows
//! nothing of HTTP, storage or chat.

mod config;
mod discovery;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod manager;
mod manifest;
pub mod mcp;
mod registry;
mod runtime;
pub mod telemetry;
pub mod tools;
mod watch;

#[cfg(feature = "python")]
pub mod python;
#[cfg(feature = "wasm")]
pub mod wasm;

pub use codex_plugin::NativePlugin;
pub use config::{HostConfig, Limits, PluginSettings, Prefer, PythonOptions, WasmOptions};
pub use discovery::PluginFile;
pub use error::HostError;
pub use manager::{Execution, ExecutionRequest, Loading, PluginManager, PluginManagerBuilder};
pub use manifest::{Manifest, PythonManifest, WasmManifest};
pub use mcp::McpServerConfig;
pub use registry::{LoadError, PluginEntry};
pub use runtime::{LoadFailure, Runtime};
pub use watch::FolderWatch;
