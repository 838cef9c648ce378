//! Tool names, definitions and the way back, over detached entries.

use serde_json::json;

use super::*;
use codex_plugin::PluginInfo;

fn entry(name: &str, schema: Value, enabled: bool) -> Arc<PluginEntry> {
    let info = PluginInfo::new(name)
        .with_description(format!("the {name} plugin"))
        .with_input_schema(schema);
    PluginEntry::detached(info, enabled)
}

#[test]
fn tool_names_are_sanitised() {
    assert_eq!(
        tool_name("time__get_current_time"),
        "time__get_current_time"
    );
    assert_eq!(tool_name("a.b c"), "a_b_c");
    assert_eq!(tool_name("ünïcode"), "_n_code");
    assert_eq!(tool_name(&"x".repeat(80)).len(), 64);
    assert_eq!(tool_name(""), "_");
}

#[test]
fn a_toolbox_offers_the_enabled_plugins_not_excluded() {
    let object = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let entries = vec![
        entry("echo", object.clone(), true),
        entry("shell", object.clone(), false),
        entry("agent", object.clone(), true),
        entry("calculator", json!({"type": "string"}), true),
    ];
    let toolbox = Toolbox::new(entries, &["agent"]);
    let names: Vec<&str> = toolbox.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["calculator", "echo"]);
    assert_eq!(toolbox.len(), 2);
    assert!(toolbox.resolve("shell").is_none());
    assert!(toolbox.resolve("agent").is_none());
    assert_eq!(toolbox.resolve("echo").map(|e| e.name()), Some("echo"));

    let definitions = serde_json::to_value(toolbox.definitions()).unwrap();
    assert_eq!(
        definitions,
        json!([
            {"type": "function", "function": {
                "name": "calculator",
                "description": "the calculator plugin",
                "parameters": {
                    "type": "object",
                    "properties": {"data": {"type": "string"}},
                    "required": ["data"],
                },
            }},
            {"type": "function", "function": {
                "name": "echo",
                "description": "the echo plugin",
                "parameters": object,
            }},
        ])
    );
}

// Two plugins whose names sanitise to the same tool name: the first listed keeps it, and
// the definition is named by the tool name, never by the raw plugin name.
#[test]
fn the_first_plugin_keeps_a_shared_tool_name() {
    let any = json!({});
    let toolbox = Toolbox::new(
        vec![entry("a.b", any.clone(), true), entry("a b", any, true)],
        &[] as &[&str],
    );
    assert_eq!(toolbox.len(), 1);
    assert_eq!(toolbox.resolve("a_b").map(|e| e.name()), Some("a.b"));
    let definitions = toolbox.definitions();
    assert_eq!(definitions[0].function.name, "a_b");
}

#[test]
fn arguments_go_back_as_plugin_input() {
    let object = entry("o", json!({"type": "object"}), true);
    let other = entry("s", json!({"type": "string"}), true);
    let check = |entry: &PluginEntry, arguments: Value, expected: Value| {
        assert_eq!(
            Toolbox::input(entry, arguments.clone()),
            expected,
            "{arguments}"
        );
    };
    check(&object, json!({"data": 1}), json!({"data": 1}));
    check(&other, json!({"data": "2*3"}), json!("2*3"));
    check(&other, json!({"other": 1}), json!({"other": 1}));
    check(&other, json!("plain"), json!("plain"));
}

#[test]
fn removing_a_tool_leaves_the_rest() {
    let mut toolbox = Toolbox::new(
        vec![
            entry("echo", json!({}), true),
            entry("time", json!({}), true),
        ],
        &[] as &[&str],
    );
    assert!(toolbox.remove("time").is_some());
    assert!(toolbox.remove("time").is_none());
    let names: Vec<&str> = toolbox.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["echo"]);
}
