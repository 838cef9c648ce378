//! The plugin contract: what every CodexContinue plugin is, whatever runs it.
//!
//! This crate is deliberately tiny and does no IO.
//! Runtimes (native, Wasm, Python, MCP) implement [`Plugin`]; the host and everything
//! above it only ever see that trait, [`PluginInfo`] and [`PluginError`].

mod context;
mod error;
mod info;
pub mod naming;
mod native;
mod policy;
pub mod trace;

pub use context::{
    ExecContext, MemoryMessage, MemoryView, PluginDirectory, PluginSummary, Progress, ProgressSink,
};
pub use error::{PluginError, Result, panic_message};
pub use info::{PluginInfo, PluginKind};
pub use native::NativePlugin;
pub use policy::{ApprovalMode, Policy};

use async_trait::async_trait;
use serde_json::Value;

/// A plugin: `initialize` once, `execute` many times (concurrently), `shutdown` once.
///
/// `data` is any JSON value; plugins must accept a plain string where that makes sense,
/// because `{"plugin": "calculator", "data": "2*(3+4)"}` is how users call them.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// Metadata shown in listings and offered to models as a tool definition.
    fn info(&self) -> &PluginInfo;

    /// Called once, before the first `execute`.
    async fn initialize(&self) -> Result<()> {
        Ok(())
    }

    /// Runs one call. May be called concurrently from many tasks.
    async fn execute(&self, data: Value, ctx: &ExecContext) -> Result<Value>;

    /// Why the plugin cannot run, when it cannot (a built-in whose model is not configured,
    /// or failed to load). Such a plugin stays listed, as unavailable with this reason, so
    /// that it never silently vanishes; its calls answer [`PluginError::Unavailable`].
    /// Asked again at every listing, since it may change once `initialize` has run.
    fn unavailable_reason(&self) -> Option<String> {
        None
    }

    /// Called once at unload or exit, after the last `execute` has finished.
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}
