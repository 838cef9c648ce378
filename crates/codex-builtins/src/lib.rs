//! The built-in native plugins: `echo`, `calculator`, `shell`, `plugin_metadata`,
//! `memory`, `memory_inspect` and `sentiment`.
//!
//! Each plugin lives in the module named after it and implements [`codex_plugin::Plugin`];
//! the host takes them all from [`builtins`], together with whether each one is on
//! before any configuration says otherwise.

use std::sync::Arc;

use codex_plugin::Plugin;

pub mod calculator;
pub mod echo;
#[cfg(feature = "huggingface")]
pub mod huggingface;
pub mod memory;
pub mod memory_inspect;
pub mod plugin_metadata;
pub mod sentiment;
pub mod shell;

mod input;

/// The author every built-in plugin declares.
pub const AUTHOR: &str = "CodexContinue";

/// The version every built-in plugin declares: this crate's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A built-in plugin, and whether the host should enable it when config says nothing.
#[derive(Clone)]
pub struct Builtin {
    pub plugin: Arc<dyn Plugin>,
    pub enabled_by_default: bool,
}

impl Builtin {
    fn new(plugin: impl Plugin, enabled_by_default: bool) -> Self {
        Builtin {
            plugin: Arc::new(plugin),
            enabled_by_default,
        }
    }
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin")
            .field("name", &self.plugin.info().name)
            .field("enabled_by_default", &self.enabled_by_default)
            .finish()
    }
}

/// Every built-in plugin that needs no settings to exist.
///
/// `shell` is listed but off by default: it runs arbitrary commands, so config must turn it on.
pub fn builtins() -> Vec<Builtin> {
    vec![
        Builtin::new(echo::EchoPlugin::new(), true),
        Builtin::new(calculator::CalculatorPlugin::new(), true),
        Builtin::new(shell::ShellPlugin::new(), shell::ENABLED_BY_DEFAULT),
        Builtin::new(plugin_metadata::PluginMetadataPlugin::new(), true),
        Builtin::new(memory::MemoryPlugin::new(), true),
        Builtin::new(memory_inspect::MemoryInspectPlugin::new(), true),
        Builtin::new(sentiment::SentimentPlugin::new(), true),
    ]
}

#[cfg(test)]
mod tests;
