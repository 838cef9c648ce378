//! The `plugin_metadata` plugin: every plugin's metadata, or one plugin's by name or alias,
//! read from the host's plugin directory.
//!
//! Each item carries the fields the original project's plugins declared (`name`,
//! `description`, `author`, `version`, `updated_at`, `requirements`, `parameters`,
//! `example`, `category`) beside ours (`input_schema`, `kind`, `enabled`, `aliases`,
//! `shadows`), so the original frontend reads it as it did.

use async_trait::async_trait;
use codex_plugin::naming::PLUGIN_SUFFIX;
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
            .read_only()
            .with_description(
                "Returns the metadata of every plugin as {\"plugins\": [...]}: name, description, \
                 version, author, category, example, input schema (also as parameters), \
                 requirements, updated_at, kind, enabled, aliases. \
                 Give a plugin name or alias (a plain string works) to get that plugin's metadata \
                 alone; an empty name or \"_\" lists every plugin.",
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
                        "description": "A plugin name or alias; omit it (or give \"_\") to list every plugin."
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

/// What the original project's clients send to ask for every plugin.
const EVERY_PLUGIN: &str = "_";

/// The plugin name the input asks about, `None` for "all of them" (nothing, an empty
/// name, or `_`).
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
    Ok(name
        .map(str::trim)
        .filter(|name| !name.is_empty() && *name != EVERY_PLUGIN))
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
            let items = plugins.iter().map(item).collect::<Result<Vec<_>>>()?;
            return Ok(json!({ "plugins": items }));
        };
        match find(&plugins, name) {
            Some(plugin) => item(plugin),
            None => Err(PluginError::NotFound {
                name: name.to_owned(),
                suggestion: closest_name(name, &plugins),
            }),
        }
    }
}

/// The plugin `name` names: its name or one of its aliases, or its name followed by
/// `_plugin` (every plugin answers to that, as it does in the host).
fn find<'a>(plugins: &'a [PluginSummary], name: &str) -> Option<&'a PluginSummary> {
    plugins
        .iter()
        .find(|p| p.info.name == name || p.aliases.iter().any(|a| a == name))
        .or_else(|| {
            let stem = name.strip_suffix(PLUGIN_SUFFIX)?;
            plugins.iter().find(|p| p.info.name == stem)
        })
}

/// One plugin's metadata: the summary, plus `parameters` (the input schema, under the
/// original project's name) and `requirements` (packages the plugin needs; none are
/// known to the host, so an empty list).
fn item(plugin: &PluginSummary) -> Result<Value> {
    let mut value = serde_json::to_value(plugin)
        .map_err(|e| PluginError::failed(format!("serializing metadata: {e}")))?;
    if let Value::Object(map) = &mut value {
        map.insert("parameters".to_owned(), plugin.info.input_schema.clone());
        map.insert("requirements".to_owned(), json!([]));
    }
    Ok(value)
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
