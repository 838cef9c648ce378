//! The `memory` plugin: a session's short memory, the messages since its last reset that
//! a model would be given as context.

use std::sync::Arc;

use async_trait::async_trait;
use codex_plugin::{ExecContext, MemoryView, Plugin, PluginError, PluginInfo, Result};
use serde_json::{Value, json};

use crate::input;
use crate::{AUTHOR, VERSION};

/// Returns `{"session_id", "messages", "count"}` for the calling session or the one named.
#[derive(Debug, Clone)]
pub struct MemoryPlugin {
    info: PluginInfo,
}

impl MemoryPlugin {
    pub fn new() -> Self {
        let info = PluginInfo::new("memory")
            .read_only()
            .with_description(
                "Returns a session's short memory: the messages since its last reset, oldest first, \
                 with their count. The calling session unless a session_id is given \
                 (a plain string works as the session id).",
            )
            .with_version(VERSION)
            .with_author(AUTHOR)
            .with_category("memory")
            .with_example(json!({}))
            .with_input_schema(session_schema());
        MemoryPlugin { info }
    }
}

impl Default for MemoryPlugin {
    fn default() -> Self {
        MemoryPlugin::new()
    }
}

#[async_trait]
impl Plugin for MemoryPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, data: Value, ctx: &ExecContext) -> Result<Value> {
        let session_id = requested_session(&data, ctx)?;
        let messages = memory_view(ctx)?.short(session_id).await?;
        Ok(json!({
            "session_id": session_id,
            "count": messages.len(),
            "messages": messages,
        }))
    }
}

/// The input schema of the memory plugins: an optional session id.
pub(crate) fn session_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "session_id": {
                "type": "string",
                "description": "The session to look at; the calling session when omitted."
            }
        },
        "additionalProperties": false
    })
}

/// The session the input names, or the calling session when it names none.
pub(crate) fn requested_session<'a>(data: &'a Value, ctx: &'a ExecContext) -> Result<&'a str> {
    let requested = match data {
        Value::Null => None,
        Value::String(id) => Some(id.as_str()),
        Value::Object(map) => {
            input::reject_unknown_fields(map, &["session_id"])?;
            input::optional_string(map, "session_id")?
        }
        other => {
            return Err(PluginError::invalid_input(format!(
                "expected nothing, a session id or {{\"session_id\": \"...\"}}, not {}",
                input::kind(other)
            )));
        }
    };
    Ok(requested
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .unwrap_or(&ctx.session_id))
}

/// The host's memory, or why there is none.
pub(crate) fn memory_view(ctx: &ExecContext) -> Result<&Arc<dyn MemoryView>> {
    ctx.memory.as_ref().ok_or_else(|| {
        PluginError::failed("memory is not available: this call has no session store")
    })
}

#[cfg(test)]
pub(crate) mod tests;
