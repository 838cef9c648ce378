//! `json_transform`: small transformations of a JSON document (flatten, keys, pick,
//! uppercase), as a CodexContinue WebAssembly plugin built with `extism-pdk`.
//!
//! Input: `{"op": "flatten" | "keys" | "pick" | "uppercase", "value": <any JSON>,
//! "fields": ["a", "b.c"]}` (`fields` only for `pick`). A plain string is parsed as JSON
//! text and flattened, so `"{\"a\": {\"b\": 1}}"` works on its own.

use extism_pdk::*;
use serde_json::{Map, Value, json};

/// Runs one call: applies `op` to `value`.
#[plugin_fn]
pub fn execute(input: String) -> FnResult<String> {
    let data: Value = serde_json::from_str(&input)?;
    let (op, value, fields) = match data {
        Value::String(text) => {
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| Error::msg(format!("the input string is not JSON: {e}")))?;
            ("flatten".to_owned(), value, Vec::new())
        }
        Value::Object(mut request) => {
            let op = match request.remove("op") {
                Some(Value::String(op)) => op,
                None => "flatten".to_owned(),
                Some(_) => return Err(Error::msg("`op` must be a string").into()),
            };
            let value = request.remove("value").unwrap_or(Value::Null);
            let fields = match request.remove("fields") {
                Some(Value::Array(fields)) => fields
                    .into_iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            (op, value, fields)
        }
        _ => {
            return Err(
                Error::msg("expected an object with `op` and `value`, or JSON text").into(),
            );
        }
    };
    let result = match op.as_str() {
        "flatten" => {
            let mut out = Map::new();
            flatten("", &value, &mut out);
            Value::Object(out)
        }
        "keys" => match &value {
            Value::Object(map) => json!(map.keys().collect::<Vec<_>>()),
            _ => return Err(Error::msg("`keys` needs an object").into()),
        },
        "pick" => {
            let mut out = Map::new();
            for field in fields {
                let pointer = format!("/{}", field.replace('.', "/"));
                if let Some(found) = value.pointer(&pointer) {
                    out.insert(field, found.clone());
                }
            }
            Value::Object(out)
        }
        "uppercase" => uppercase(value),
        other => {
            return Err(Error::msg(format!(
                "unknown op '{other}'; expected flatten, keys, pick or uppercase"
            ))
            .into());
        }
    };
    Ok(result.to_string())
}

/// Nested objects and arrays become one object with dotted keys (`a.b.0`).
fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

/// Every string, at any depth, in upper case.
fn uppercase(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.to_uppercase()),
        Value::Array(items) => Value::Array(items.into_iter().map(uppercase).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, uppercase(v))).collect())
        }
        other => other,
    }
}

/// The plugin's metadata, read once by the host at load.
#[plugin_fn]
pub fn describe() -> FnResult<String> {
    let info = json!({
        "description": "Transforms JSON: flatten nested objects, list keys, pick fields, uppercase strings.",
        "version": "1.0.0",
        "author": "CodexContinue",
        "category": "data",
        "example": {"op": "flatten", "value": {"a": {"b": 1}, "c": [true]}},
        "input_schema": {
            "type": ["object", "string"],
            "properties": {
                "op": {"type": "string", "enum": ["flatten", "keys", "pick", "uppercase"]},
                "value": {},
                "fields": {"type": "array", "items": {"type": "string"}}
            }
        }
    });
    Ok(info.to_string())
}
