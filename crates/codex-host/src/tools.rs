//! Plugins as model tools: the one place that maps a plugin to a tool (its name, its
//! definition) and a tool call back to a plugin and its input.
//!
//! Tool names must match `^[a-zA-Z0-9_-]{1,64}$`, so a plugin's name is sanitised into its
//! tool name ([`tool_name`]). Models need an object schema for a tool's parameters: a plugin
//! whose input schema is an object is offered as is; any other plugin is offered with one
//! `data` property holding its schema, and the call's `data` is unwrapped again on the way
//! back ([`tool_input`]). A [`Toolbox`] is the set of tools offered in one place (a chat
//! turn, `/api/tools`, the MCP server), keyed by tool name.

mod toolbox;

pub use toolbox::Toolbox;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::registry::PluginEntry;

/// The longest tool name models accept.
const MAX_TOOL_NAME: usize = 64;

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

/// The tool name for plugin `plugin`: characters outside `[a-zA-Z0-9_-]` become `_`, cut
/// at 64 characters; an empty name is `_`.
pub fn tool_name(plugin: &str) -> String {
    let name: String = plugin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_TOOL_NAME)
        .collect();
    if name.is_empty() {
        "_".to_owned()
    } else {
        name
    }
}

/// The tool a model sees for this plugin, named by [`tool_name`].
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
            name: tool_name(&entry.info.name),
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
