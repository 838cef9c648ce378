//! Plugin files written for the original Python project, in each of its styles, load
//! unchanged and answer as they did there (real `python3` workers).
//!
//! The files are in `tests/fixtures/original_plugins/`; each test copies the ones it needs
//! into a folder of its own.

use std::path::Path;

use codex_host::{ExecutionRequest, PluginManager};
use codex_plugin::PluginError;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::python::{run, start};

/// A fresh plugins folder holding the named fixture files.
fn folder(files: &[&str]) -> TempDir {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original_plugins");
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        std::fs::copy(fixtures.join(file), dir.path().join(file)).unwrap();
    }
    dir
}

async fn run_in(
    manager: &PluginManager,
    plugin: &str,
    data: Value,
    session: &str,
) -> Result<Value, PluginError> {
    manager
        .execute(ExecutionRequest::new(plugin, data).with_session(session))
        .await
        .map(|e| e.result)
}

/// The load error of `plugin`, as text.
fn load_error(manager: &PluginManager, plugin: &str) -> String {
    let errors = manager.load_errors();
    errors
        .iter()
        .find(|e| e.plugin.as_deref() == Some(plugin))
        .map(|e| e.error.to_string())
        .unwrap_or_else(|| panic!("no load error for {plugin}: {errors:?}"))
}

#[tokio::test]
async fn a_plugin_interface_plugin_keeps_its_metadata_and_its_error_answers() {
    let dir = folder(&["interface_style_plugin.py"]);
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);

    let entry = manager.get("interface_style").unwrap();
    let info = &entry.info;
    assert_eq!(
        info.description,
        "Divides two numbers the way the original calculator answered"
    );
    assert_eq!(info.author, "CodexContinueGPT");
    assert_eq!(info.version, "1.2");
    assert_eq!(info.updated_at.as_deref(), Some("2025-05-03T10:00:00"));
    assert_eq!(info.category, "Math");
    assert_eq!(info.requirements, ["none-really"]);
    assert_eq!(
        info.input_schema,
        json!({"type": "string", "description": "a / b"})
    );
    assert_eq!(info.example, Some(json!("6 / 3")));
    assert_eq!(entry.aliases, ["interface_style_plugin"]);

    assert_eq!(
        run(&manager, "interface_style_plugin", json!("6 / 3")).await,
        Ok(json!({"result": 2.0, "ready": true}))
    );
    manager.shutdown().await;
}

/// Regression: the original plugins answer failures with `{"error": "..."}` instead of
/// raising; that is their answer, and it must come back as a result, not as a failure.
#[tokio::test]
async fn an_error_object_returned_by_a_plugin_is_a_result() {
    let dir = folder(&["interface_style_plugin.py"]);
    let manager = start(dir.path()).await;
    assert_eq!(
        run(&manager, "interface_style", json!("1 / 0")).await,
        Ok(json!({"error": "float division by zero"}))
    );
    assert_eq!(
        run(&manager, "interface_style", json!("no numbers")).await,
        Ok(json!({"error": "could not convert string to float: 'no numbers'"}))
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn an_app_plugins_interface_codex_tool_is_called_through_execute() {
    let dir = folder(&["tool_style_plugin.py"]);
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);
    let info = &manager.get("tool_style").unwrap().info;
    assert_eq!(info.description, "Echoes its input, decoded");
    assert_eq!(info.version, "2.0");
    assert_eq!(info.category, "Utility");

    assert_eq!(
        run(&manager, "tool_style", json!({"n": [1, 2]})).await,
        Ok(json!({"got": {"n": [1, 2]}, "is_plugin_interface": true}))
    );
    // The shim's `run(input_text)` calls `execute`, as the original's did.
    assert_eq!(
        run(&manager, "tool_style", json!("through run")).await,
        Ok(json!({"got": "from run", "is_plugin_interface": true}))
    );
    manager.shutdown().await;
}

// The original's own file name: with no native `shell` here, the file's plugin is `shell`.
#[tokio::test]
async fn a_brain_codex_tool_with_only_an_async_run_gets_the_text_and_the_session() {
    let dir = folder(&["shell_plugin.py"]);
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);

    let info = &manager.get("shell").unwrap().info;
    assert_eq!(info.description, "Run a shell command");
    assert_eq!(info.author, "CodexContinueGPT");
    assert_eq!(info.version, "1.0");
    assert_eq!(
        info.updated_at.as_deref(),
        Some("2025-05-04T19:50:23.388715")
    );
    assert_eq!(info.category, "Utility");
    assert!(info.requirements.is_empty());
    assert_eq!(info.example, Some(json!("run shell echo hello")));

    assert_eq!(
        run(&manager, "shell", json!("echo hello")).await,
        Ok(json!("hello"))
    );
    assert_eq!(
        run_in(
            &manager,
            "shell_plugin",
            json!("echo oops >&2; exit 3"),
            "s-42"
        )
        .await,
        Ok(json!("Shell error in s-42: oops"))
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn a_sync_run_gets_non_string_input_as_json_text() {
    let dir = folder(&["sync_run_plugin.py", "one_arg_run_plugin.py"]);
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);
    let info = &manager.get("sync_run").unwrap().info;
    assert_eq!(info.description, "Says what it was given");
    assert_eq!(info.version, "0.3");

    assert_eq!(
        run_in(&manager, "sync_run", json!("2 + 2"), "alpha").await,
        Ok(json!({"prompt": "2 + 2", "session_id": "alpha"}))
    );
    assert_eq!(
        run_in(&manager, "sync_run", json!({"a": [1, "é"]}), "beta").await,
        Ok(json!({"prompt": "{\"a\":[1,\"é\"]}", "session_id": "beta"}))
    );
    assert_eq!(
        run(&manager, "sync_run", json!(7)).await,
        Ok(json!({"prompt": "7", "session_id": "default"}))
    );
    assert_eq!(
        run(&manager, "one_arg_run", json!("quiet")).await,
        Ok(json!("QUIET"))
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn a_module_level_instance_or_the_one_plugin_class_is_the_plugin() {
    let dir = folder(&[
        "word_count_plugin.py",
        "reverse_text_plugin.py",
        "counted_plugin.py",
    ]);
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);
    // The file's own instance serves; the class was not instantiated a second time.
    assert_eq!(run(&manager, "counted", json!("")).await, Ok(json!(1)));
    assert_eq!(
        manager.get("word_count").unwrap().info.description,
        "Counts words"
    );
    assert_eq!(
        run(&manager, "word_count", json!("one two three")).await,
        Ok(json!(3))
    );
    assert_eq!(
        manager.get("reverse_text").unwrap().info.description,
        "Reverses text"
    );
    assert_eq!(
        run(&manager, "reverse_text", json!("abc")).await,
        Ok(json!("cba"))
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn a_missing_package_is_a_load_error_saying_how_to_install_it() {
    let dir = folder(&[
        "needs_package_plugin.py",
        "notes_plugin.py",
        "sync_run_plugin.py",
    ]);
    let manager = start(dir.path()).await;
    assert!(manager.get("sync_run").is_ok(), "the rest loads");
    assert!(manager.get("needs_package").is_err());

    // The interpreter the workers run, as the worker itself names it.
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let error = load_error(&manager, "needs_package");
    assert!(
        error.contains("The Python package 'codex_no_such_package' is not installed"),
        "{error}"
    );
    assert!(
        error.contains(&format!("{python} -m pip install codex_no_such_package")),
        "{error}"
    );
    assert!(
        error.contains("ModuleNotFoundError: No module named 'codex_no_such_package'"),
        "{error}"
    );

    // A module of the original application itself is not a package to install.
    let error = load_error(&manager, "notes");
    assert!(
        error.starts_with(
            "The module 'app.memory' is part of the original project's application, \
             which CodexContinue does not provide"
        ),
        "{error}"
    );
    assert!(!error.contains("pip install"), "{error}");
    manager.shutdown().await;
}

#[tokio::test]
async fn a_file_without_a_plugin_says_what_was_looked_for() {
    let dir = folder(&["nothing_plugin.py", "two_classes_plugin.py"]);
    let manager = start(dir.path()).await;
    assert!(manager.list().is_empty());

    let error = load_error(&manager, "nothing");
    for text in [
        "nothing_plugin.py holds no plugin",
        "a class NothingPlugin (the PascalCase of the file name)",
        "a module-level instance (`plugin = NothingPlugin()`)",
        "a single class subclassing PluginInterface or CodexTool",
        "classes found: Helper",
    ] {
        assert!(error.contains(text), "{text:?} in {error}");
    }
    let error = load_error(&manager, "two_classes");
    assert!(
        error.contains("several plugin classes (First, Second)"),
        "{error}"
    );
    manager.shutdown().await;
}
