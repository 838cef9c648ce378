//! Errors of the host itself (as opposed to a plugin call's [`codex_plugin::PluginError`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read the plugins folder {path}: {source}")]
    PluginsDir {
        path: PathBuf,
        source: std::io::Error,
    },
}
