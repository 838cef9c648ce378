//! The built-in native plugins: `echo`, `calculator`, `shell`, `plugin_metadata`,
//! `memory`, `memory_inspect` and `sentiment`, and `huggingface`.
//!
//! Each plugin lives in the module named after it and implements [`codex_plugin::Plugin`];
//! the host takes them all from [`builtins`], together with whether each one is on
//! before any configuration says otherwise, except `huggingface`, which needs its config
//! table and comes from [`huggingface::builtin`].

use std::sync::Arc;

use codex_plugin::Plugin;

pub mod calculator;
pub mod echo;
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
mod tests {
    use super::*;

    #[test]
    fn builtins_are_listed_with_their_default_state() {
        let listed: Vec<(String, bool)> = builtins()
            .iter()
            .map(|b| (b.plugin.info().name.clone(), b.enabled_by_default))
            .collect();
        let expected = [
            ("echo", true),
            ("calculator", true),
            ("shell", false),
            ("plugin_metadata", true),
            ("memory", true),
            ("memory_inspect", true),
            ("sentiment", true),
        ];
        let expected: Vec<(String, bool)> = expected
            .iter()
            .map(|(n, e)| ((*n).to_owned(), *e))
            .collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn every_builtin_declares_full_metadata() {
        for builtin in builtins() {
            let info = builtin.plugin.info();
            assert!(
                codex_plugin::naming::is_valid_name(&info.name),
                "{}",
                info.name
            );
            assert!(!info.description.is_empty(), "{}", info.name);
            assert_eq!(info.author, AUTHOR, "{}", info.name);
            assert_eq!(info.version, VERSION, "{}", info.name);
            assert_ne!(info.category, "general", "{}", info.name);
            assert!(info.example.is_some(), "{}", info.name);
            // Models get the schema as a tool's parameters, which must be an object schema.
            assert_eq!(
                info.input_schema["type"], "object",
                "{}: {}",
                info.name, info.input_schema
            );
            assert!(info.input_schema["properties"].is_object(), "{}", info.name);
        }
    }
}
