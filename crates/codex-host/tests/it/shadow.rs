//! Files named like a built-in: the file takes the name (the built-in steps aside, alive,
//! and comes back when the file goes), unless `prefer = "builtin"` keeps the built-in; and
//! every plugin answers to `<name>_plugin`. Real built-ins, real Python workers.

use std::path::Path;
use std::sync::Arc;

use codex_host::python::{PythonOptions, PythonRuntime};
use codex_host::{ExecutionRequest, HostConfig, PluginManager, PluginSettings, Prefer};
use codex_plugin::{PluginError, PluginKind};
use serde_json::{Value, json};

/// The original project's own file name and style, answering something no built-in would.
const CALCULATOR: &str = r#"
from app.plugins.interface import PluginInterface


class CalculatorPlugin(PluginInterface):
    def initialize(self):
        pass

    def execute(self, data):
        return {"from": "calculator_plugin.py", "input": data}

    def shutdown(self):
        pass
"#;

async fn start(config: HostConfig) -> PluginManager {
    PluginManager::builder(config)
        .with_natives(codex_builtins::builtins())
        .with_runtime(Arc::new(PythonRuntime::new(PythonOptions::default())))
        .start()
        .await
}

async fn run(manager: &PluginManager, plugin: &str, data: Value) -> Result<Value, PluginError> {
    manager
        .execute(ExecutionRequest::new(plugin, data))
        .await
        .map(|e| e.result)
}

fn count(manager: &PluginManager, name: &str) -> usize {
    manager.list().iter().filter(|e| e.name() == name).count()
}

fn write_calculator(dir: &Path) {
    std::fs::write(dir.join("calculator_plugin.py"), CALCULATOR).unwrap();
}

// The original `calculator_plugin.py` did not load at all: "'calculator' is the name of a
// built-in plugin". The folder is the user's choice, so the file takes the name, visibly.
#[tokio::test]
async fn a_file_named_like_a_builtin_takes_the_name_and_gives_it_back_when_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    write_calculator(dir.path());
    let manager = start(HostConfig::new(dir.path())).await;
    assert_eq!(manager.load_errors(), []);

    let calculator = manager.get("calculator").unwrap();
    assert_eq!(calculator.kind, PluginKind::Python);
    assert_eq!(calculator.shadows.as_deref(), Some("calculator"));
    assert_eq!(
        calculator.source.as_deref(),
        Some(dir.path().join("calculator_plugin.py").as_path())
    );
    assert!(calculator.is_enabled());
    assert_eq!(count(&manager, "calculator"), 1, "one plugin has the name");
    let summary = calculator.summary();
    assert_eq!(summary.shadows.as_deref(), Some("calculator"));
    assert!(summary.updated_at.is_some(), "a file plugin has a time");

    let expected = json!({"from": "calculator_plugin.py", "input": "2*(3+4)"});
    for name in ["calculator", "calculator_plugin"] {
        assert_eq!(
            run(&manager, name, json!("2*(3+4)")).await,
            Ok(expected.clone()),
            "{name}"
        );
    }

    // Without the file, the built-in (never shut down meanwhile) answers again.
    std::fs::remove_file(dir.path().join("calculator_plugin.py")).unwrap();
    manager.reload().await;
    let calculator = manager.get("calculator").unwrap();
    assert_eq!(calculator.kind, PluginKind::Native);
    assert_eq!(calculator.shadows, None);
    assert_eq!(calculator.summary().updated_at, None);
    assert_eq!(count(&manager, "calculator"), 1);
    assert_eq!(
        run(&manager, "calculator", json!("2*(3+4)")).await,
        Ok(json!({"result": 14, "expression": "2*(3+4)"}))
    );

    // And the file takes the name again when it comes back.
    write_calculator(dir.path());
    manager.reload().await;
    assert_eq!(manager.get("calculator").unwrap().kind, PluginKind::Python);
    assert_eq!(count(&manager, "calculator"), 1);
    manager.shutdown().await;
}

#[tokio::test]
async fn prefer_builtin_keeps_the_builtin_and_says_why_the_file_did_not_load() {
    let dir = tempfile::tempdir().unwrap();
    write_calculator(dir.path());
    let mut config = HostConfig::new(dir.path());
    config.plugins.insert(
        "calculator".into(),
        PluginSettings {
            prefer: Some(Prefer::Builtin),
            ..PluginSettings::default()
        },
    );
    let manager = start(config).await;

    let calculator = manager.get("calculator").unwrap();
    assert_eq!(calculator.kind, PluginKind::Native);
    assert_eq!(calculator.shadows, None);
    let errors = manager.load_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].file.ends_with("calculator_plugin.py"),
        "{errors:?}"
    );
    assert_eq!(errors[0].plugin.as_deref(), Some("calculator"));
    assert!(
        errors[0]
            .error
            .contains("[plugins.calculator] prefer = \"builtin\" keeps the built-in"),
        "{errors:?}"
    );
    manager.shutdown().await;
}

// The original project's first loaders keyed plugins by module name, so its clients call
// `calculator_plugin` and `echo_plugin`; built-ins answered 404 to those.
#[tokio::test]
async fn every_plugin_answers_to_its_name_followed_by_plugin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("greeting_plugin.py"),
        CALCULATOR.replace("CalculatorPlugin", "GreetingPlugin"),
    )
    .unwrap();
    let manager = start(HostConfig::new(dir.path())).await;

    let echo = manager
        .execute(ExecutionRequest::new("echo_plugin", json!("hi")))
        .await
        .unwrap();
    assert_eq!(echo.plugin, "echo");
    let calculator = run(&manager, "calculator_plugin", json!("2*(3+4)"))
        .await
        .unwrap();
    assert_eq!(calculator["result"], 14);
    assert_eq!(
        manager.get("greeting_plugin").unwrap().name(),
        "greeting",
        "a file plugin's stem"
    );
    // Only a canonical name gains the suffix: an alias does not.
    assert!(matches!(
        manager.get("test_plugin"),
        Err(PluginError::NotFound { .. })
    ));
    // The listed aliases of a built-in stay what the config says.
    assert_eq!(manager.get("shell").unwrap().aliases, ["interpreter", "oi"]);
    manager.shutdown().await;
}
