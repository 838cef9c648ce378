//! The `plugin_metadata` plugin: every plugin's metadata, or one plugin's by name or alias,
//! read from the host's plugin directory.

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo, PluginSummary, Result};
use serde_json::{Value, json};

use crate::input;
use crate::{AUTHOR, VERSION};

/// Lists plugins as `{"plugins": [...]}`, or returns the one the input names.
#[derive(Debug, Clone)]
pub struct PluginMetadataPlugin {
    info: PluginInfo,
}

impl PluginMetadataPlugin {
    pub fn new() -> Self {
        let info = PluginInfo::new("plugin_metadata")
            .with_description(
                "Returns the metadata of every plugin as {\"plugins\": [...]}: name, description, \
                 version, author, category, example, input schema, kind, enabled, aliases. \
                 Give a plugin name or alias (a plain string works) to get that plugin's metadata alone.",
            )
            .with_version(VERSION)
            .with_author(AUTHOR)
            .with_category("system")
            .with_example(json!({"name": "calculator"}))
            .with_input_schema(json!({
                "type": "object",
                "properties": {
                    "name": {
                        "type": "string",
                        "description": "A plugin name or alias; omit it to list every plugin."
                    }
                },
                "additionalProperties": false
            }));
        PluginMetadataPlugin { info }
    }
}

impl Default for PluginMetadataPlugin {
    fn default() -> Self {
        PluginMetadataPlugin::new()
    }
}

/// The plugin name the input asks about, `None` for "all of them".
fn requested_name(data: &Value) -> Result<Option<&str>> {
    let name = match data {
        Value::Null => None,
        Value::String(name) => Some(name.as_str()),
        Value::Object(map) => {
            input::reject_unknown_fields(map, &["name"])?;
            input::optional_string(map, "name")?
        }
        other => {
            return Err(PluginError::invalid_input(format!(
                "expected a plugin name or {{\"name\": \"...\"}}, not {}",
                input::kind(other)
            )));
        }
    };
    Ok(name.map(str::trim).filter(|name| !name.is_empty()))
}

#[async_trait]
impl Plugin for PluginMetadataPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, data: Value, ctx: &ExecContext) -> Result<Value> {
        let name = requested_name(&data)?;
        let directory = ctx
            .plugins
            .as_ref()
            .ok_or_else(|| PluginError::failed("the plugin list is not available to this call"))?;
        let plugins = directory.plugins();
        let Some(name) = name else {
            return Ok(json!({ "plugins": plugins }));
        };
        match plugins
            .iter()
            .find(|p| p.info.name == name || p.aliases.iter().any(|a| a == name))
        {
            Some(plugin) => serde_json::to_value(plugin)
                .map_err(|e| PluginError::failed(format!("serializing metadata: {e}"))),
            None => Err(PluginError::NotFound {
                name: name.to_owned(),
                suggestion: closest_name(name, &plugins),
            }),
        }
    }
}

/// The plugin name or alias closest to a misspelt `name`, if one is close enough to be
/// what the caller meant: at most a third of its characters wrong (a swap of two counting as one), and at
/// least one allowed.
fn closest_name(name: &str, plugins: &[PluginSummary]) -> Option<String> {
    let allowed = (name.chars().count() / 3).max(1);
    plugins
        .iter()
        .flat_map(|p| std::iter::once(&p.info.name).chain(&p.aliases))
        .map(|candidate| (strsim::osa_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.clone())
}

#[cfg(test)]
mod tests;
