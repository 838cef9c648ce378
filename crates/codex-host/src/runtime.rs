//! The seam between the manager and the runtimes that load plugin files.

use std::sync::Arc;

use async_trait::async_trait;
use codex_plugin::{Plugin, PluginKind};

use crate::discovery::PluginFile;
use crate::manifest::Manifest;

/// Why a runtime could not load a plugin file.
///
/// The message is shown to users in `load_errors`, so each variant's text says what is
/// wrong with the file (a traceback, a missing export) or with the machine.
#[derive(Debug, thiserror::Error)]
pub enum LoadFailure {
    /// A file the plugin needs could not be read or written.
    #[error("cannot {what}: {error}")]
    Io {
        /// What was tried: `read /srv/plugins/x_plugin.wasm`.
        what: String,
        error: std::io::Error,
    },
    /// The manifest asks for something the runtime cannot give (a folder to grant that
    /// does not exist, a memory limit out of range, a `config` that is not a table).
    #[error("{0}")]
    Manifest(String),
    /// The plugin's worker could not start or import the plugin: the interpreter is
    /// missing, the import raised (the message holds the traceback), or it hung.
    #[error("{0}")]
    Start(String),
    /// The module is not a usable plugin: it does not compile, lacks an export, or its
    /// `describe` failed.
    #[error("{0}")]
    Module(String),
    /// Loading panicked inside the runtime.
    #[error("loading the module panicked: {0}")]
    Panicked(String),
}

/// Loads plugins of one kind from files in the plugins folder.
///
/// A runtime returns a plugin that is ready for `initialize`; the manager calls
/// `initialize`, `execute` and `shutdown`, and owns limits and the registry.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    fn kind(&self) -> PluginKind;

    /// The extension of the files this runtime loads (`py` for `<name>_plugin.py`); also
    /// what a manifest without its plugin file is told was looked for.
    fn extension(&self) -> &'static str;

    /// Whether this runtime loads `file`; by default, whether it has [`Self::extension`].
    fn handles(&self, file: &PluginFile) -> bool {
        file.name.extension == self.extension()
    }

    /// Loads the plugin in `file`; the manager has checked that `manifest` holds nothing
    /// that means nothing for this runtime's kind.
    async fn load(
        &self,
        file: &PluginFile,
        manifest: &Manifest,
    ) -> Result<Arc<dyn Plugin>, LoadFailure>;

    /// Called once when the manager shuts down, after every plugin's `shutdown`.
    async fn shutdown(&self) {}
}
