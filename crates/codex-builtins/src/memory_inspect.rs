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
mod tests {
    use std::sync::Arc;

    use codex_plugin::PluginError;

    use super::*;
    use crate::memory::tests::{BrokenStore, context, messages, sessions};

    async fn check(input: Value, expected: Result<Value>) {
        let got = MemoryInspectPlugin::new()
            .execute(input.clone(), &context(Some(sessions())))
            .await;
        assert_eq!(got, expected, "{input}");
    }

    fn inspected(session: &str, short: &[(&str, &str)], full: &[(&str, &str)]) -> Result<Value> {
        Ok(json!({
            "session_id": session,
            "short": messages(short),
            "full": messages(full),
            "counts": {"short": short.len(), "full": full.len()},
        }))
    }

    #[tokio::test]
    async fn shows_short_and_full_memory_with_counts() {
        let alice = inspected(
            "alice",
            &[("user", "hi"), ("assistant", "hello")],
            &[
                ("user", "old"),
                ("system", "memory reset"),
                ("user", "hi"),
                ("assistant", "hello"),
            ],
        );
        check(Value::Null, alice.clone()).await;
        check(json!({}), alice).await;
        check(
            json!({"session_id": "bob"}),
            inspected("bob", &[("user", "2+2?")], &[("user", "2+2?")]),
        )
        .await;
        check(json!("nobody"), inspected("nobody", &[], &[])).await;
    }

    #[tokio::test]
    async fn bad_input_is_rejected() {
        check(
            json!({"session_id": 3}),
            Err(PluginError::invalid_input(
                "'session_id' must be a string, not a number",
            )),
        )
        .await;
    }

    #[tokio::test]
    async fn fails_clearly_without_memory() {
        let got = MemoryInspectPlugin::new()
            .execute(Value::Null, &context(None))
            .await;
        assert_eq!(
            got,
            Err(PluginError::failed(
                "memory is not available: this call has no session store"
            ))
        );
        let got = MemoryInspectPlugin::new()
            .execute(Value::Null, &context(Some(Arc::new(BrokenStore))))
            .await;
        assert_eq!(got, Err(PluginError::failed("store unreachable")));
    }
}
