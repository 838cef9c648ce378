//! plugin_metadata over a fixed plugin directory.

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
        updated_at: None,
        shadows: None,
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
    item(&summary(name, aliases)).expect("summary serializes")
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

// The original frontend asks `plugin_metadata` for every plugin with `"_"`, and reads the
// attributes its plugins declared; `_` answered 404 and the items lacked those fields.
#[tokio::test]
async fn underscore_lists_every_plugin_with_the_original_fields() {
    let all = Ok(json!({"plugins": [
        metadata("echo", &["test"]),
        metadata("calculator", &[]),
        metadata("shell", &["interpreter", "oi"]),
    ]}));
    check(json!("_"), all.clone()).await;
    check(json!({"name": "_"}), all).await;

    let echo = metadata("echo", &["test"]);
    for field in [
        "name",
        "description",
        "author",
        "version",
        "updated_at",
        "requirements",
        "parameters",
        "example",
        "category",
    ] {
        assert!(echo.get(field).is_some(), "{field} missing from {echo}");
    }
    assert_eq!(echo["parameters"], echo["input_schema"]);
    assert_eq!(echo["requirements"], json!([]));
    assert_eq!(echo["updated_at"], Value::Null);
}

#[tokio::test]
async fn a_plugin_answers_to_its_name_followed_by_plugin() {
    check(json!("calculator_plugin"), Ok(metadata("calculator", &[]))).await;
    check(json!("weather_plugin"), not_found("weather_plugin", None)).await;
}
