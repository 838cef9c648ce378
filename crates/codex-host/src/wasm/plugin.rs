//! A loaded Wasm module as a [`Plugin`]: metadata from its `describe` export, JSON in and
//! out of `execute`, and its `initialize` and `shutdown` exports at the plugin's lifecycle.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo, ProgressSink, Result};
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::CallLimits;
use super::call::{self, CallSpec};
use super::pool::{Exports, InstanceFactory, Pool};

pub(crate) struct WasmPlugin {
    info: PluginInfo,
    pool: Arc<Pool>,
    limits: CallLimits,
}

impl WasmPlugin {
    /// Makes the first instance, checks the exports and reads `describe`. Blocks: call it
    /// on a blocking thread.
    pub(crate) fn load(
        name: String,
        factory: InstanceFactory,
        pool_size: usize,
        limits: CallLimits,
    ) -> Result<WasmPlugin, String> {
        let mut first = factory.create(true)?;
        let plugin = &mut first.plugin;
        if !plugin.function_exists("execute") {
            return Err("missing export execute".to_owned());
        }
        let exports = Exports {
            initialize: plugin.function_exists("initialize"),
            shutdown: plugin.function_exists("shutdown"),
        };
        let mut info = PluginInfo::new(name);
        if plugin.function_exists("describe") {
            let output = plugin
                .call::<&[u8], Vec<u8>>("describe", &[])
                .map_err(|e| format!("describe failed: {}", e.root_cause()))?;
            parse_description(&output)?.apply(&mut info);
        }
        first.initialized = !exports.initialize;
        let pool = Arc::new(Pool::new(&info.name, factory, pool_size, exports, first));
        Ok(WasmPlugin { info, pool, limits })
    }

    fn spec(
        &self,
        input: Option<Vec<u8>>,
        deadline: Instant,
        cancel: CancellationToken,
        progress: Option<ProgressSink>,
    ) -> CallSpec {
        CallSpec {
            plugin: self.info.name.clone(),
            input,
            started: Instant::now(),
            deadline,
            cancel,
            limits: self.limits,
            progress,
        }
    }
}

#[async_trait]
impl Plugin for WasmPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Runs the `initialize` export on the first instance, so a failing one is a load
    /// error. Instances made later for concurrent calls run it before their first call.
    async fn initialize(&self) -> Result<()> {
        if !self.pool.exports.initialize {
            return Ok(());
        }
        let deadline = Instant::now() + self.limits.timeout;
        let spec = self.spec(None, deadline, CancellationToken::new(), None);
        call::run(self.pool.clone(), spec).await.map(|_| ())
    }

    async fn execute(&self, data: Value, ctx: &ExecContext) -> Result<Value> {
        let input = serde_json::to_vec(&data).map_err(|e| {
            PluginError::invalid_input(format!("the input is not serialisable: {e}"))
        })?;
        let spec = self.spec(
            Some(input),
            ctx.deadline,
            ctx.cancel.clone(),
            ctx.progress.clone(),
        );
        let output = call::run(self.pool.clone(), spec)
            .await?
            .unwrap_or_default();
        Ok(output_value(&output))
    }

    /// Runs the `shutdown` export on every idle instance; calls still running (the host
    /// waits for them first) end on instances that are then dropped.
    async fn shutdown(&self) -> Result<()> {
        let instances = self.pool.close();
        if !self.pool.exports.shutdown || instances.is_empty() {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || call::shutdown_blocking(instances))
            .await
            .map_err(|e| PluginError::Crashed(format!("shutdown panicked: {e}")))?
            .map_err(PluginError::Failed)
    }
}

/// The module's output as JSON: parsed when it is JSON, else the text as a JSON string;
/// nothing at all is `null`.
fn output_value(output: &[u8]) -> Value {
    if output.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(output)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(output).into_owned()))
}

/// What a module's `describe` export may say; every field is optional.
#[derive(Debug, Default, Deserialize)]
struct Description {
    description: Option<String>,
    version: Option<String>,
    author: Option<String>,
    category: Option<String>,
    example: Option<Value>,
    /// `parameters` is what the original project's plugins called it.
    #[serde(alias = "parameters")]
    input_schema: Option<Value>,
}

impl Description {
    fn apply(self, info: &mut PluginInfo) {
        if let Some(v) = self.description {
            info.description = v;
        }
        if let Some(v) = self.version {
            info.version = v;
        }
        if let Some(v) = self.author {
            info.author = v;
        }
        if let Some(v) = self.category {
            info.category = v;
        }
        if self.example.is_some() {
            info.example = self.example;
        }
        if let Some(v) = self.input_schema {
            info.input_schema = v;
        }
    }
}

fn parse_description(output: &[u8]) -> Result<Description, String> {
    if output.iter().all(u8::is_ascii_whitespace) {
        return Ok(Description::default());
    }
    serde_json::from_slice(output)
        .map_err(|e| format!("describe must return a JSON object of metadata: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_is_json_or_a_json_string() {
        assert_eq!(output_value(br#"{"words": 3}"#), json!({"words": 3}));
        assert_eq!(output_value(b"not json"), json!("not json"));
        assert_eq!(output_value(b""), Value::Null);
    }

    #[test]
    fn describe_fills_what_it_names() {
        let mut info = PluginInfo::new("word_count");
        parse_description(br#"{"description": "Counts", "parameters": {"type": "string"}}"#)
            .unwrap()
            .apply(&mut info);
        assert_eq!(info.description, "Counts");
        assert_eq!(info.input_schema, json!({"type": "string"}));
        assert_eq!(info.version, "0.1.0");
        assert!(parse_description(b"[1, 2]").is_err());
        assert!(parse_description(b"").is_ok());
    }
}
