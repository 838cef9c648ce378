//! The `huggingface` plugin: a BERT-family sentence model for `embed`, `similarity` and
//! `classify` (with the checkpoint's classification head, or zero-shot against labelled
//! example sentences), run with candle on blocking threads.
//!
//! The model is a local folder (`model_dir`), or a Hugging Face Hub model id (`model`)
//! fetched once into the Hub cache when the plugin initializes; calls never touch the
//! network. The plugin is always listed ([`builtin`]): without a model, in a build without
//! the `huggingface` feature, or when its model fails to load, it is listed as unavailable
//! with the reason and the setting that enables it, and its calls say so.

#[cfg(feature = "huggingface")]
mod hub;
#[cfg(feature = "huggingface")]
mod model;
#[cfg(feature = "huggingface")]
mod plugin;
#[cfg(feature = "huggingface")]
mod pooling;
#[cfg(feature = "huggingface")]
mod request;
#[cfg(feature = "huggingface")]
mod zero_shot;

use std::sync::Arc;
use std::time::Duration;

use codex_plugin::{Plugin, PluginInfo};
use serde_json::{Value, json};

#[cfg(feature = "huggingface")]
pub use hub::HubModel;
#[cfg(feature = "huggingface")]
pub use plugin::{HuggingFacePlugin, HuggingFaceSettings, ModelSource};
#[cfg(feature = "huggingface")]
pub use zero_shot::{LabelExamples, default_labels};

use crate::unavailable::UnavailablePlugin;

/// The plugin's name.
pub const NAME: &str = "huggingface";

/// What the listing and every call say while no model is configured.
pub const ENABLE_HINT: &str = "set [plugins.huggingface.config] model_dir = \"/path/to/model\" \
     or model = \"sentence-transformers/all-MiniLM-L6-v2\"";

/// The tasks a call can name.
pub const TASKS: [&str; 3] = ["embed", "similarity", "classify"];

/// The `huggingface` built-in as the host registers it, from its
/// `[plugins.huggingface.config]` table (if any).
///
/// It is always a plugin named `huggingface`: the model plugin when the table names a
/// model (unavailable, with the load error as reason, if the model then fails to load or
/// to download); otherwise a placeholder, unavailable with the reason (no model
/// configured, a bad table, or a build without the feature). Loading, downloads included,
/// gets most of `init_timeout` (the host's bound on `initialize`), so that a slow download
/// ends with the plugin listed as unavailable rather than dropped by the host.
pub fn builtin(config: Option<&Value>, init_timeout: Duration) -> Arc<dyn Plugin> {
    #[cfg(feature = "huggingface")]
    {
        let Some(config) = config.filter(|c| !c.is_null()) else {
            return placeholder(ENABLE_HINT);
        };
        match HuggingFacePlugin::from_config(config) {
            Ok(plugin) => Arc::new(crate::unavailable::FallibleBuiltin::new(
                Arc::new(plugin),
                init_timeout * 9 / 10,
            )),
            Err(error) => {
                tracing::error!(plugin = NAME, error = %error, "built-in plugin unavailable");
                placeholder(error.to_string())
            }
        }
    }
    #[cfg(not(feature = "huggingface"))]
    {
        let _ = (config, init_timeout);
        placeholder(format!(
            "this build has no huggingface support: build codexcontinue with its \
             `huggingface` feature (on by default), then {ENABLE_HINT}"
        ))
    }
}

fn placeholder(reason: impl Into<String>) -> Arc<dyn Plugin> {
    Arc::new(UnavailablePlugin::new(plugin_info(), reason))
}

/// The plugin's metadata, the same whether it can run or not.
pub fn plugin_info() -> PluginInfo {
    let texts = json!({"type": "array", "items": {"type": "string"}, "minItems": 1});
    let labels = json!({
        "type": "object",
        "description": "Zero-shot labels, each with example sentences.",
        "additionalProperties": {"type": "array", "items": {"type": "string"}}
    });
    PluginInfo::new(NAME)
        .read_only()
        .with_description(
            "Runs a local Hugging Face sentence model: sentence embeddings, cosine similarity, \
             and classification (the model's own head, or zero-shot against example sentences; \
             positive/negative sentiment by default). A plain string is classified.",
        )
        .with_version(crate::VERSION)
        .with_author(crate::AUTHOR)
        .with_category("ai")
        .with_example(json!({"task": "classify", "text": "I love this"}))
        // An object schema, since models get it as a tool's parameters; a plain string
        // (classify) is accepted at run time all the same.
        .with_input_schema(json!({
            "type": "object",
            "properties": {
                "task": {
                    "type": "string",
                    "enum": TASKS,
                    "default": "classify",
                    "description": "embed: vectors; similarity: cosine of a and b (or of all texts); \
                                    classify: label and per-label scores."
                },
                "text": {"type": "string"},
                "texts": texts,
                "a": {"type": "string", "description": "similarity: first text"},
                "b": {"type": "string", "description": "similarity: second text"},
                "labels": labels
            },
            "additionalProperties": false
        }))
}

#[cfg(all(test, feature = "huggingface"))]
mod tests;
