//! What a call asks the `huggingface` plugin to do, parsed and checked from its JSON input.

use codex_plugin::PluginError;
use serde::Deserialize;
use serde_json::Value;

use super::TASKS;
use super::zero_shot::{LabelExamples, validate_labels};

/// One text or several; answers keep the same shape (`embedding` vs `embeddings`).
#[derive(Debug, Clone, PartialEq)]
pub enum Texts {
    One(String),
    Many(Vec<String>),
}

impl Texts {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Texts::One(text) => vec![text.clone()],
            Texts::Many(texts) => texts.clone(),
        }
    }
}

/// What to compute.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Embed(Texts),
    /// Cosine of `a` and `b`.
    SimilarityPair {
        a: String,
        b: String,
    },
    /// Cosine of every pair of texts, as a matrix.
    SimilarityMatrix(Vec<String>),
    /// With `labels`, zero-shot against those; otherwise the head or the configured labels.
    Classify {
        texts: Texts,
        labels: Option<LabelExamples>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    task: Option<String>,
    text: Option<String>,
    texts: Option<Vec<String>>,
    a: Option<String>,
    b: Option<String>,
    labels: Option<LabelExamples>,
}

impl Request {
    /// A plain string (or list of strings) means `classify`; an object names its `task`
    /// (default `classify`).
    pub fn parse(data: Value) -> Result<Request, PluginError> {
        let raw = match data {
            Value::String(text) => RawRequest::texts(Some(text), None),
            Value::Array(_) => {
                let texts = serde_json::from_value(data).map_err(|_| {
                    PluginError::invalid_input("a list input must hold only strings")
                })?;
                RawRequest::texts(None, Some(texts))
            }
            Value::Object(_) => serde_json::from_value(data)
                .map_err(|e| PluginError::invalid_input(format!("huggingface input: {e}")))?,
            _ => {
                return Err(PluginError::invalid_input(
                    "expected a string or an object like {\"task\": \"embed\", \"text\": \"...\"}",
                ));
            }
        };
        let task = raw.task.as_deref().unwrap_or("classify");
        let unexpected = |fields: &[(&str, bool)]| -> Result<(), PluginError> {
            match fields.iter().find(|(_, present)| *present) {
                Some((name, _)) => Err(PluginError::invalid_input(format!(
                    "'{name}' is not used by task '{task}'"
                ))),
                None => Ok(()),
            }
        };
        match task {
            "embed" => {
                unexpected(&[
                    ("a", raw.a.is_some()),
                    ("b", raw.b.is_some()),
                    ("labels", raw.labels.is_some()),
                ])?;
                Ok(Request::Embed(texts_of(raw.text, raw.texts, task)?))
            }
            "similarity" => {
                unexpected(&[
                    ("text", raw.text.is_some()),
                    ("labels", raw.labels.is_some()),
                ])?;
                match (raw.a, raw.b, raw.texts) {
                    (Some(a), Some(b), None) => Ok(Request::SimilarityPair { a, b }),
                    (None, None, Some(texts)) if texts.len() >= 2 => {
                        Ok(Request::SimilarityMatrix(texts))
                    }
                    _ => Err(PluginError::invalid_input(
                        "similarity needs \"a\" and \"b\", or \"texts\" with at least two texts",
                    )),
                }
            }
            "classify" => {
                unexpected(&[("a", raw.a.is_some()), ("b", raw.b.is_some())])?;
                if let Some(labels) = &raw.labels {
                    validate_labels(labels)?;
                }
                Ok(Request::Classify {
                    texts: texts_of(raw.text, raw.texts, task)?,
                    labels: raw.labels,
                })
            }
            other => Err(PluginError::invalid_input(format!(
                "unknown task '{other}'; expected one of {}",
                TASKS.join(", ")
            ))),
        }
    }
}

impl RawRequest {
    fn texts(text: Option<String>, texts: Option<Vec<String>>) -> RawRequest {
        RawRequest {
            task: None,
            text,
            texts,
            a: None,
            b: None,
            labels: None,
        }
    }
}

fn texts_of(
    text: Option<String>,
    texts: Option<Vec<String>>,
    task: &str,
) -> Result<Texts, PluginError> {
    match (text, texts) {
        (Some(text), None) => Ok(Texts::One(text)),
        (None, Some(texts)) if !texts.is_empty() => Ok(Texts::Many(texts)),
        (None, Some(_)) => Err(PluginError::invalid_input("\"texts\" is empty")),
        (Some(_), Some(_)) => Err(PluginError::invalid_input(
            "give either \"text\" or \"texts\", not both",
        )),
        (None, None) => Err(PluginError::invalid_input(format!(
            "task '{task}' needs \"text\" (a string) or \"texts\" (a list of strings)"
        ))),
    }
}

#[cfg(test)]
mod tests;
