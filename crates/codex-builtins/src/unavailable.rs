//! Built-in plugins that stay listed when they cannot run: a placeholder for one that is not
//! set up (or not compiled in), and a wrapper that turns a failed `initialize` into the same
//! state, so that users see the plugin, why it cannot run and what enables it, instead of a
//! name that silently vanished and answers 404.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo, Result};
use serde_json::Value;

/// The answer to every call of a plugin that cannot run.
fn unavailable(name: &str, reason: &str) -> PluginError {
    PluginError::Unavailable(format!("plugin '{name}' is unavailable: {reason}"))
}

/// A built-in that cannot run here: listed with its real metadata and `reason`; every call
/// answers [`PluginError::Unavailable`].
pub struct UnavailablePlugin {
    info: PluginInfo,
    reason: String,
}

impl UnavailablePlugin {
    pub fn new(info: PluginInfo, reason: impl Into<String>) -> Self {
        UnavailablePlugin {
            info,
            reason: reason.into(),
        }
    }
}

#[async_trait]
impl Plugin for UnavailablePlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, _data: Value, _ctx: &ExecContext) -> Result<Value> {
        Err(unavailable(&self.info.name, &self.reason))
    }

    fn unavailable_reason(&self) -> Option<String> {
        Some(self.reason.clone())
    }
}

/// A built-in whose `initialize` may fail for reasons of its setting (a model folder that
/// is missing, a download that cannot reach its server): the failure makes it unavailable,
/// with the error as the reason, instead of leaving it out of the registry.
///
/// `initialize` gets `budget`, which callers set a little under the host's own bound:
/// past the host's bound the host gives up on the plugin and drops it, which is what this
/// wrapper is for avoiding.
pub struct FallibleBuiltin {
    inner: Arc<dyn Plugin>,
    budget: Duration,
    reason: RwLock<Option<String>>,
}

impl FallibleBuiltin {
    pub fn new(inner: Arc<dyn Plugin>, budget: Duration) -> Self {
        FallibleBuiltin {
            inner,
            budget,
            reason: RwLock::new(None),
        }
    }

    fn set_reason(&self, reason: Option<String>) {
        *self.reason.write().unwrap_or_else(|e| e.into_inner()) = reason;
    }
}

#[async_trait]
impl Plugin for FallibleBuiltin {
    fn info(&self) -> &PluginInfo {
        self.inner.info()
    }

    /// Never fails: a failure of the wrapped plugin is logged and becomes the reason.
    async fn initialize(&self) -> Result<()> {
        let name = &self.inner.info().name;
        let reason = match tokio::time::timeout(self.budget, self.inner.initialize()).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!(
                "initialize did not finish within {} ms; raise init_timeout_ms",
                self.budget.as_millis()
            )),
        };
        if let Some(reason) = &reason {
            tracing::error!(plugin = %name, reason = %reason, "built-in plugin unavailable");
        }
        self.set_reason(reason);
        Ok(())
    }

    async fn execute(&self, data: Value, ctx: &ExecContext) -> Result<Value> {
        match self.unavailable_reason() {
            Some(reason) => Err(unavailable(&self.inner.info().name, &reason)),
            None => self.inner.execute(data, ctx).await,
        }
    }

    fn unavailable_reason(&self) -> Option<String> {
        self.reason
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown().await
    }
}

#[cfg(test)]
mod tests;
