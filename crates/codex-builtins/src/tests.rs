//! The list of built-ins, their metadata, and their examples against their schemas.

use super::*;

#[test]
fn builtins_are_listed_with_their_default_state() {
    let listed: Vec<(String, bool)> = builtins()
        .iter()
        .map(|b| (b.plugin.info().name.clone(), b.enabled_by_default))
        .collect();
    let expected = [
        ("echo", true),
        ("calculator", true),
        ("shell", false),
        ("plugin_metadata", true),
        ("memory", true),
        ("memory_inspect", true),
        ("sentiment", true),
    ];
    let expected: Vec<(String, bool)> = expected
        .iter()
        .map(|(n, e)| ((*n).to_owned(), *e))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn every_builtin_declares_full_metadata() {
    for builtin in builtins() {
        let info = builtin.plugin.info();
        assert!(
            codex_plugin::naming::is_valid_name(&info.name),
            "{}",
            info.name
        );
        assert!(!info.description.is_empty(), "{}", info.name);
        assert_eq!(info.author, AUTHOR, "{}", info.name);
        assert_eq!(info.version, VERSION, "{}", info.name);
        assert_ne!(info.category, "general", "{}", info.name);
        assert!(info.example.is_some(), "{}", info.name);
        // Models get the schema as a tool's parameters, which must be an object schema.
        assert_eq!(
            info.input_schema["type"], "object",
            "{}: {}",
            info.name, info.input_schema
        );
        assert!(info.input_schema["properties"].is_object(), "{}", info.name);
    }
}

/// Every example a built-in shows must be an input its own schema accepts: the UI fills
/// its form from the schema and offers the example, and models see both.
fn check_example(info: &codex_plugin::PluginInfo) {
    let example = info
        .example
        .as_ref()
        .unwrap_or_else(|| panic!("{} has no example", info.name));
    let validator = jsonschema::validator_for(&info.input_schema)
        .unwrap_or_else(|e| panic!("{}: the input schema is not valid: {e}", info.name));
    let errors: Vec<String> = validator
        .iter_errors(example)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{}: example {example} does not validate: {}",
        info.name,
        errors.join("; ")
    );
}

#[test]
fn every_builtin_example_validates_against_its_schema() {
    for builtin in builtins() {
        check_example(builtin.plugin.info());
    }
}

#[cfg(feature = "huggingface")]
#[test]
fn the_huggingface_example_validates_against_its_schema() {
    let plugin = crate::huggingface::HuggingFacePlugin::new(
        crate::huggingface::HuggingFaceSettings::new("/no/model/needed/for/metadata"),
    );
    check_example(codex_plugin::Plugin::info(&plugin));
}
