//! The `echo` plugin: returns its input unchanged under `"echo"`, like the original
//! project's `EchoPlugin`; the cheapest possible call, and so the benchmark target.

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginInfo, Result};
use serde_json::{Map, Value, json};

use crate::{AUTHOR, VERSION};

/// Returns `{"echo": data}`.
#[derive(Debug, Clone)]
pub struct EchoPlugin {
    info: PluginInfo,
}

impl EchoPlugin {
    pub fn new() -> Self {
        let info = PluginInfo::new("echo")
            .read_only()
            .with_description("Returns its input unchanged, as {\"echo\": input}. Any JSON value works, a plain string included.")
            .with_version(VERSION)
            .with_author(AUTHOR)
            .with_category("utility")
            .with_example(json!({"message": "Hello, CodexContinue!"}))
            .with_input_schema(json!({
                "type": "object",
                "description": "Any JSON value (a plain string works too); it comes back unchanged under \"echo\".",
                "properties": {
                    "message": {"type": "string", "description": "Text to echo back."}
                },
                "additionalProperties": true
            }));
        EchoPlugin { info }
    }
}

impl Default for EchoPlugin {
    fn default() -> Self {
        EchoPlugin::new()
    }
}

#[async_trait]
impl Plugin for EchoPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, data: Value, _ctx: &ExecContext) -> Result<Value> {
        // Built by hand rather than with `json!` so the input moves in without a clone
        // and the map holds exactly one entry.
        let mut map = Map::new();
        map.insert("echo".to_owned(), data);
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    async fn check(input: Value, expected: Value) {
        let ctx = ExecContext::new("test", Instant::now() + Duration::from_secs(10));
        let got = EchoPlugin::new().execute(input.clone(), &ctx).await;
        assert_eq!(got, Ok(expected), "{input}");
    }

    #[tokio::test]
    async fn echoes_any_value() {
        check(json!("hello"), json!({"echo": "hello"})).await;
        check(json!(""), json!({"echo": ""})).await;
        check(json!(null), json!({"echo": null})).await;
        check(json!(42), json!({"echo": 42})).await;
        check(json!([1, "two", null]), json!({"echo": [1, "two", null]})).await;
        check(
            json!({"message": "hi", "nested": {"a": [true]}}),
            json!({"echo": {"message": "hi", "nested": {"a": [true]}}}),
        )
        .await;
    }
}
