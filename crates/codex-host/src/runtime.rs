//! The seam between the manager and the runtimes that load plugin files.

use std::sync::Arc;

use async_trait::async_trait;
use codex_plugin::{Plugin, PluginKind};

use crate::discovery::PluginFile;
use crate::manifest::Manifest;

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

    /// Loads the plugin in `file`. The error is shown to users in `load_errors`, so it
    /// should say what is wrong with the file (a traceback, a missing export).
    async fn load(&self, file: &PluginFile, manifest: &Manifest)
    -> Result<Arc<dyn Plugin>, String>;

    /// Called once when the manager shuts down, after every plugin's `shutdown`.
    async fn shutdown(&self) {}
}
