//! `word_count`: counts words, lines and characters of a text, as a CodexContinue
//! WebAssembly plugin built with `extism-pdk`.
//!
//! Input is the JSON of the call's `data`: a plain string (`"a b c"`) or an object with
//! a `text` field (`{"text": "a b c"}`).

use extism_pdk::*;
use serde_json::{Value, json};

/// Runs one call: counts the words of the text in `input`.
#[plugin_fn]
pub fn execute(input: String) -> FnResult<String> {
    let data: Value = serde_json::from_str(&input)?;
    let text = match &data {
        Value::String(text) => text.as_str(),
        Value::Object(fields) => match fields.get("text") {
            Some(Value::String(text)) => text.as_str(),
            _ => {
                return Err(
                    Error::msg("expected a string or an object with a `text` string").into(),
                );
            }
        },
        _ => return Err(Error::msg("expected a string or an object with a `text` string").into()),
    };
    let result = json!({
        "words": text.split_whitespace().count(),
        "lines": text.lines().count(),
        "characters": text.chars().count(),
    });
    Ok(result.to_string())
}

/// The plugin's metadata, read once by the host at load.
#[plugin_fn]
pub fn describe() -> FnResult<String> {
    let info = json!({
        "description": "Counts the words, lines and characters of a text.",
        "version": "1.0.0",
        "author": "CodexContinue",
        "category": "text",
        "example": "the quick brown fox",
        "input_schema": {
            "oneOf": [
                {"type": "string", "description": "The text to count."},
                {
                    "type": "object",
                    "properties": {"text": {"type": "string", "description": "The text to count."}},
                    "required": ["text"]
                }
            ]
        }
    });
    Ok(info.to_string())
}
