//! The built-in native plugins: `echo`, `calculator`, `shell`, `plugin_metadata`,
//! `memory`, `memory_inspect` and `sentiment`, and `huggingface`.
//!
//! Each plugin lives in the module named after it and implements [`codex_plugin::Plugin`];
//! the host takes them all from [`builtins`], together with whether each one is on
//! before any configuration says otherwise, except `huggingface`, which needs its config
//! table and comes from [`huggingface::builtin`].

use codex_plugin::NativePlugin;

pub mod calculator;
pub mod echo;
#[doc(hidden)]
pub mod fuzzing;
pub mod huggingface;
pub mod memory;
pub mod memory_inspect;
pub mod plugin_metadata;
pub mod sentiment;
pub mod shell;
pub mod unavailable;

mod input;

/// The author every built-in plugin declares.
pub const AUTHOR: &str = "CodexContinue";

/// The version every built-in plugin declares: this crate's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every built-in plugin that needs no settings to exist.
///
/// `shell` is listed but off by default: it runs arbitrary commands, so config must turn it on.
pub fn builtins() -> Vec<NativePlugin> {
    vec![
        NativePlugin::new(echo::EchoPlugin::new(), true),
        NativePlugin::new(calculator::CalculatorPlugin::new(), true),
        NativePlugin::new(shell::ShellPlugin::new(), shell::ENABLED_BY_DEFAULT),
        NativePlugin::new(plugin_metadata::PluginMetadataPlugin::new(), true),
        NativePlugin::new(memory::MemoryPlugin::new(), true),
        NativePlugin::new(memory_inspect::MemoryInspectPlugin::new(), true),
        NativePlugin::new(sentiment::SentimentPlugin::new(), true),
    ]
}

#[cfg(test)]
mod tests;
