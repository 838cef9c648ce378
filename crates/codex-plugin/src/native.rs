//! A plugin compiled into the binary, as built-in crates hand it to the host.

use std::sync::Arc;

use crate::Plugin;

/// A native plugin and whether the host enables it when the config file says nothing.
///
/// `codex_builtins::builtins()` returns these and `PluginManagerBuilder::with_natives` takes
/// them, so the list passes from one crate to the other without conversion.
#[derive(Clone)]
pub struct NativePlugin {
    pub plugin: Arc<dyn Plugin>,
    /// `shell` is off until config enables it; everything else is on.
    pub enabled_by_default: bool,
}

impl NativePlugin {
    pub fn new(plugin: impl Plugin, enabled_by_default: bool) -> Self {
        NativePlugin {
            plugin: Arc::new(plugin),
            enabled_by_default,
        }
    }

    /// The plugin's name, as it declares it.
    pub fn name(&self) -> &str {
        &self.plugin.info().name
    }
}

impl std::fmt::Debug for NativePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativePlugin")
            .field("name", &self.name())
            .field("enabled_by_default", &self.enabled_by_default)
            .finish()
    }
}
