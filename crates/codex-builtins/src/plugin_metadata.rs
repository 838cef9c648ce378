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
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use codex_plugin::{PluginDirectory, PluginKind};

    use super::*;

    struct Directory(Vec<PluginSummary>);

    impl PluginDirectory for Directory {
        fn plugins(&self) -> Vec<PluginSummary> {
            self.0.clone()
        }
    }

    fn summary(name: &str, aliases: &[&str]) -> PluginSummary {
        PluginSummary {
            info: PluginInfo::new(name).with_description(format!("the {name} plugin")),
            kind: PluginKind::Native,
            enabled: true,
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn directory() -> Arc<dyn PluginDirectory> {
        Arc::new(Directory(vec![
            summary("echo", &["test"]),
            summary("calculator", &[]),
            summary("shell", &["interpreter", "oi"]),
        ]))
    }

    async fn check(input: Value, expected: Result<Value>) {
        let ctx = ExecContext::new("test", Instant::now() + Duration::from_secs(10))
            .with_plugins(directory());
        let got = PluginMetadataPlugin::new()
            .execute(input.clone(), &ctx)
            .await;
        assert_eq!(got, expected, "{input}");
    }

    fn metadata(name: &str, aliases: &[&str]) -> Value {
        serde_json::to_value(summary(name, aliases)).expect("summary serializes")
    }

    fn not_found(name: &str, suggestion: Option<&str>) -> Result<Value> {
        Err(PluginError::NotFound {
            name: name.to_owned(),
            suggestion: suggestion.map(str::to_owned),
        })
    }

    #[tokio::test]
    async fn lists_every_plugin() {
        let all = Ok(json!({"plugins": [
            metadata("echo", &["test"]),
            metadata("calculator", &[]),
            metadata("shell", &["interpreter", "oi"]),
        ]}));
        check(Value::Null, all.clone()).await;
        check(json!(""), all.clone()).await;
        check(json!({}), all.clone()).await;
        check(json!({"name": null}), all).await;
    }

    #[test]
    fn summaries_carry_the_full_metadata() {
        let echo = metadata("echo", &["test"]);
        for field in [
            "name",
            "description",
            "version",
            "author",
            "category",
            "input_schema",
            "kind",
            "enabled",
            "aliases",
        ] {
            assert!(echo.get(field).is_some(), "{field} missing from {echo}");
        }
    }

    #[tokio::test]
    async fn finds_one_plugin_by_name_or_alias() {
        check(json!("calculator"), Ok(metadata("calculator", &[]))).await;
        check(json!({"name": "echo"}), Ok(metadata("echo", &["test"]))).await;
        check(
            json!("interpreter"),
            Ok(metadata("shell", &["interpreter", "oi"])),
        )
        .await;
        check(
            json!(" shell "),
            Ok(metadata("shell", &["interpreter", "oi"])),
        )
        .await;
    }

    #[tokio::test]
    async fn unknown_names_suggest_a_close_one() {
        check(
            json!("calculater"),
            not_found("calculater", Some("calculator")),
        )
        .await;
        check(json!("ehco"), not_found("ehco", Some("echo"))).await;
        check(
            json!("interpretr"),
            not_found("interpretr", Some("interpreter")),
        )
        .await;
        check(json!("weather"), not_found("weather", None)).await;
        check(json!("x"), not_found("x", None)).await;
    }

    #[tokio::test]
    async fn bad_input_is_rejected() {
        check(
            json!(3),
            Err(PluginError::invalid_input(
                "expected a plugin name or {\"name\": \"...\"}, not a number",
            )),
        )
        .await;
        check(
            json!({"plugin": "echo"}),
            Err(PluginError::invalid_input(
                "unknown field 'plugin'; expected 'name'",
            )),
        )
        .await;
    }

    #[tokio::test]
    async fn without_a_plugin_list_the_call_fails() {
        let ctx = ExecContext::new("test", Instant::now() + Duration::from_secs(10));
        let got = PluginMetadataPlugin::new().execute(Value::Null, &ctx).await;
        assert_eq!(
            got,
            Err(PluginError::failed(
                "the plugin list is not available to this call"
            ))
        );
    }
}
