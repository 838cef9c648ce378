//! The `memory_inspect` plugin: a session's short and full memory side by side, with counts,
//! to see what a reset hid from the model.

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginInfo, Result};
use serde_json::{Value, json};

use crate::memory::{memory_view, requested_session, session_schema};
use crate::{AUTHOR, VERSION};

/// Returns `{"session_id", "short", "full", "counts": {"short", "full"}}`.
#[derive(Debug, Clone)]
pub struct MemoryInspectPlugin {
    info: PluginInfo,
}

impl MemoryInspectPlugin {
    pub fn new() -> Self {
        let info = PluginInfo::new("memory_inspect")
            .read_only()
            .with_description(
                "Returns a session's short memory (messages since the last reset) and full memory \
                 (every message, resets included), with their counts. The calling session unless \
                 a session_id is given (a plain string works as the session id).",
            )
            .with_version(VERSION)
            .with_author(AUTHOR)
            .with_category("memory")
            .with_example(json!({}))
            .with_input_schema(session_schema());
        MemoryInspectPlugin { info }
    }
}

impl Default for MemoryInspectPlugin {
    fn default() -> Self {
        MemoryInspectPlugin::new()
    }
}

#[async_trait]
impl Plugin for MemoryInspectPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, data: Value, ctx: &ExecContext) -> Result<Value> {
        let session_id = requested_session(&data, ctx)?;
        let memory = memory_view(ctx)?;
        let (short, full) = tokio::try_join!(memory.short(session_id), memory.full(session_id))?;
        Ok(json!({
            "session_id": session_id,
            "counts": {"short": short.len(), "full": full.len()},
            "short": short,
            "full": full,
        }))
    }
}

#[cfg(test)]
mod tests;
