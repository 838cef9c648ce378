//! The `sentiment` plugin: lexicon-based sentiment (VADER) of a text or a list of texts,
//! always available, fast, and needing no model files.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo, Result};
use serde_json::{Map, Value, json};
use vader_sentiment::SentimentIntensityAnalyzer;

use crate::input;
use crate::{AUTHOR, VERSION};

/// VADER's usual threshold: a compound score at or above it is positive, at or below its
/// negation negative, neutral in between.
pub const LABEL_THRESHOLD: f64 = 0.05;

/// Above this much text a call is scored on a blocking thread, so one large request
/// cannot stall the async workers serving everyone else.
const BLOCKING_THRESHOLD_BYTES: usize = 32 * 1024;

/// Scores `"text"`, `{"text"}`, `["a", "b"]` or `{"texts": [...]}`.
#[derive(Clone)]
pub struct SentimentPlugin {
    info: PluginInfo,
    /// Built on first use (or at `initialize`): building it parses VADER's lexicon.
    /// Shared with blocking tasks, hence the `Arc`.
    analyzer: Arc<OnceLock<SentimentIntensityAnalyzer<'static>>>,
}

impl SentimentPlugin {
    pub fn new() -> Self {
        let info = PluginInfo::new("sentiment")
            .read_only()
            .with_description(
                "Scores the sentiment of English text with the VADER lexicon: a label \
                 (positive, negative or neutral) and the compound, pos, neu and neg scores. \
                 Give one text (a plain string works) or a list of texts.",
            )
            .with_version(VERSION)
            .with_author(AUTHOR)
            .with_category("nlp")
            .with_example(json!({"text": "I love how fast this is!"}))
            .with_input_schema(json!({
                "type": "object",
                "properties": {
                    "text": {"type": "string", "description": "One text to score."},
                    "texts": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Several texts, scored in order into \"results\"."
                    }
                },
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": false
            }));
        SentimentPlugin {
            info,
            analyzer: Arc::new(OnceLock::new()),
        }
    }
}

impl Default for SentimentPlugin {
    fn default() -> Self {
        SentimentPlugin::new()
    }
}

impl std::fmt::Debug for SentimentPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentimentPlugin")
            .field("name", &self.info.name)
            .field("analyzer_ready", &self.analyzer.get().is_some())
            .finish()
    }
}

/// What the input asks to score.
enum Request {
    One(String),
    Many(Vec<String>),
}

impl Request {
    fn parse(data: Value) -> Result<Request> {
        match data {
            Value::String(text) => Ok(Request::One(text)),
            Value::Array(items) => texts(items, "").map(Request::Many),
            Value::Object(mut map) => {
                input::reject_unknown_fields(&map, &["text", "texts"])?;
                match (map.remove("text"), map.remove("texts")) {
                    (Some(Value::String(text)), None) => Ok(Request::One(text)),
                    (None, Some(Value::Array(items))) => texts(items, "texts").map(Request::Many),
                    (Some(_), Some(_)) => Err(PluginError::invalid_input(
                        "give either 'text' or 'texts', not both",
                    )),
                    (None, None) => Err(PluginError::invalid_input(
                        "missing field 'text' (or 'texts' for a list)",
                    )),
                    (Some(other), None) => Err(PluginError::invalid_input(format!(
                        "'text' must be a string, not {}",
                        input::kind(&other)
                    ))),
                    (None, Some(other)) => Err(PluginError::invalid_input(format!(
                        "'texts' must be an array of strings, not {}",
                        input::kind(&other)
                    ))),
                }
            }
            other => Err(PluginError::invalid_input(format!(
                "expected a text, a list of texts, {{\"text\": \"...\"}} or {{\"texts\": [...]}}, not {}",
                input::kind(&other)
            ))),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Request::One(text) => text.len(),
            Request::Many(texts) => texts.iter().map(String::len).sum(),
        }
    }

    fn score(&self, analyzer: &SentimentIntensityAnalyzer<'_>) -> Value {
        match self {
            Request::One(text) => score(analyzer, text),
            Request::Many(texts) => {
                let results = texts.iter().map(|text| score(analyzer, text)).collect();
                let mut map = Map::new();
                map.insert("results".to_owned(), Value::Array(results));
                Value::Object(map)
            }
        }
    }
}

/// The strings of a list; `field` names the list in errors (`texts[2]`), empty for a bare array.
fn texts(items: Vec<Value>, field: &str) -> Result<Vec<String>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(text) => Ok(text),
            other => {
                let item = if field.is_empty() {
                    format!("item {i}")
                } else {
                    format!("{field}[{i}]")
                };
                Err(PluginError::invalid_input(format!(
                    "{item} must be a string, not {}",
                    input::kind(&other)
                )))
            }
        })
        .collect()
}

/// One text's label and scores, rounded as the reference Python VADER rounds them
/// (compound to 4 places, the proportions to 3).
fn score(analyzer: &SentimentIntensityAnalyzer<'_>, text: &str) -> Value {
    let scores = analyzer.polarity_scores(text);
    let get = |key: &str, places: i32| {
        let factor = 10f64.powi(places);
        (scores.get(key).copied().unwrap_or(0.0) * factor).round() / factor
    };
    let compound = get("compound", 4);
    let label = if compound >= LABEL_THRESHOLD {
        "positive"
    } else if compound <= -LABEL_THRESHOLD {
        "negative"
    } else {
        "neutral"
    };
    json!({
        "label": label,
        "scores": {
            "compound": compound,
            "pos": get("pos", 3),
            "neu": get("neu", 3),
            "neg": get("neg", 3),
        }
    })
}

fn analyzer<'a>(
    cell: &'a OnceLock<SentimentIntensityAnalyzer<'static>>,
) -> &'a SentimentIntensityAnalyzer<'static> {
    cell.get_or_init(SentimentIntensityAnalyzer::new)
}

#[async_trait]
impl Plugin for SentimentPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Builds the analyzer now so the first call does not pay for parsing the lexicon.
    async fn initialize(&self) -> Result<()> {
        analyzer(&self.analyzer);
        Ok(())
    }

    async fn execute(&self, data: Value, _ctx: &ExecContext) -> Result<Value> {
        let request = Request::parse(data)?;
        if request.bytes() <= BLOCKING_THRESHOLD_BYTES {
            return Ok(request.score(analyzer(&self.analyzer)));
        }
        let cell = Arc::clone(&self.analyzer);
        tokio::task::spawn_blocking(move || request.score(analyzer(&cell)))
            .await
            .map_err(|e| PluginError::Crashed(format!("sentiment scoring failed: {e}")))
    }
}

#[cfg(test)]
mod tests;
