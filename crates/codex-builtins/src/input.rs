//! Reading a plugin's JSON input: object fields checked by name and type, with errors
//! that tell the caller what was expected instead of what went wrong inside.

use codex_plugin::{PluginError, Result};
use serde_json::{Map, Value};

/// The JSON type of a value, as error messages name it.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Fails on the first field not in `allowed`, so a typo (`"expresion"`) is an error
/// rather than a silently ignored field.
pub(crate) fn reject_unknown_fields(map: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match map.keys().find(|key| !allowed.contains(&key.as_str())) {
        None => Ok(()),
        Some(key) => {
            let allowed = allowed
                .iter()
                .map(|field| format!("'{field}'"))
                .collect::<Vec<_>>()
                .join(", ");
            Err(PluginError::invalid_input(format!(
                "unknown field '{key}'; expected {allowed}"
            )))
        }
    }
}

/// The string in `field`, `None` when the field is absent or null, an error for any other type.
pub(crate) fn optional_string<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(PluginError::invalid_input(format!(
            "'{field}' must be a string, not {}",
            kind(other)
        ))),
    }
}

/// The string in `field`, which must be there.
pub(crate) fn required_string<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str> {
    optional_string(map, field)?
        .ok_or_else(|| PluginError::invalid_input(format!("missing field '{field}'")))
}
