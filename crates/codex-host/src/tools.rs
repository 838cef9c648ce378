//! Plugins as model tools: the one place that maps a plugin to a tool definition and a
//! tool call's arguments back to plugin input.
//!
//! Models need an object schema for a tool's parameters. A plugin whose input schema is
//! an object is offered as is; any other plugin is offered with one `data` property
//! holding its schema, and the call's `data` is unwrapped again on the way back.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::registry::PluginEntry;

/// A function tool in the OpenAI chat-completions format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionDefinition,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionDefinition {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// The tool a model sees for this plugin.
pub fn tool_definition(entry: &PluginEntry) -> ToolDefinition {
    let schema = &entry.info.input_schema;
    let parameters = if is_object_schema(schema) {
        schema.clone()
    } else {
        json!({
            "type": "object",
            "properties": {"data": wrapped_schema(schema, &entry.info.description)},
            "required": ["data"],
        })
    };
    ToolDefinition {
        kind: "function",
        function: FunctionDefinition {
            name: entry.info.name.clone(),
            description: entry.info.description.clone(),
            parameters,
        },
    }
}

/// Turns a tool call's arguments back into the plugin's input.
pub fn tool_input(entry: &PluginEntry, arguments: Value) -> Value {
    if is_object_schema(&entry.info.input_schema) {
        return arguments;
    }
    match arguments {
        Value::Object(mut map) if map.contains_key("data") => {
            map.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    }
}

fn is_object_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
}

fn wrapped_schema(schema: &Value, description: &str) -> Value {
    match schema {
        Value::Object(map) if !map.is_empty() => schema.clone(),
        _ => {
            let mut any = Map::new();
            any.insert(
                "description".to_owned(),
                Value::String(
                    format!("Input for the plugin. {description}")
                        .trim()
                        .to_owned(),
                ),
            );
            Value::Object(any)
        }
    }
}
