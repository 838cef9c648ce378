//! `run` and `plugins`, in-process plugin manager, results on stdout.

use serde_json::{Value, json};

use crate::{codexcontinue, stderr, stdout};

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    dir
}

#[test]
fn run_prints_the_result_as_json() {
    let dir = workdir();
    let out = codexcontinue(dir.path())
        .args(["run", "calculator", "2*(3+4)"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value, json!({"expression": "2*(3+4)", "result": 14}));
}

#[test]
fn run_joins_words_and_parses_json_input() {
    let dir = workdir();
    let out = codexcontinue(dir.path())
        .args(["run", "test", "hello", "world"])
        .output()
        .unwrap();
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value, json!({"echo": "hello world"}));
    let out = codexcontinue(dir.path())
        .args(["run", "calculator", r#"{"expression": "2^10"}"#])
        .output()
        .unwrap();
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["result"], 1024);
}

#[test]
fn run_errors_exit_non_zero_with_one_line() {
    let dir = workdir();
    let out = codexcontinue(dir.path())
        .args(["run", "calculater", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("did you mean 'calculator'"), "{err}");
    assert!(stdout(&out).is_empty());

    let out = codexcontinue(dir.path())
        .args(["run", "shell", "echo", "hi"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("disabled"));
}

#[test]
fn config_file_enables_shell_and_rejects_unknown_keys() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("codexcontinue.toml"),
        "[plugins.shell]\nenabled = true\n",
    )
    .unwrap();
    let out = codexcontinue(dir.path())
        .args(["run", "oi", "echo", "from-shell"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["stdout"], "from-shell\n");

    std::fs::write(dir.path().join("bad.toml"), "[limits]\ntimeout_s = 1\n").unwrap();
    let out = codexcontinue(dir.path())
        .args(["--config", "bad.toml", "plugins"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("timeout_s"), "{}", stderr(&out));
}

#[test]
fn environment_overrides_the_file() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("codexcontinue.toml"),
        "[plugins.shell]\nenabled = true\n",
    )
    .unwrap();
    let out = codexcontinue(dir.path())
        .env("CODEX_PLUGINS__SHELL__ENABLED", "false")
        .args(["run", "shell", "true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("disabled"), "{}", stderr(&out));
}

#[test]
fn plugins_lists_as_table_and_json_and_shows_info() {
    let dir = workdir();
    std::fs::write(dir.path().join("plugins/broken_plugin.xyz"), "?").unwrap();
    let out = codexcontinue(dir.path()).arg("plugins").output().unwrap();
    assert!(out.status.success());
    let table = stdout(&out);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("shell") && l.contains("disabled"))
    );
    assert!(table.contains("broken_plugin.xyz"));

    let out = codexcontinue(dir.path())
        .args(["plugins", "--json"])
        .output()
        .unwrap();
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(value["plugins"].as_array().unwrap().len() >= 7);
    assert_eq!(value["load_errors"][0]["plugin"], "broken");

    let out = codexcontinue(dir.path())
        .args(["plugins", "info", "interpreter"])
        .output()
        .unwrap();
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["name"], "shell");
    assert_eq!(value["enabled"], false);
}

// A file named like a built-in takes its name; the listing says which file shadows which
// built-in, so the switch is never silent.
#[test]
fn plugins_says_which_file_shadows_which_builtin() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("plugins/calculator_plugin.py"),
        r#"
from app.plugins.interface import PluginInterface


class CalculatorPlugin(PluginInterface):
    def initialize(self):
        pass

    def execute(self, data):
        return data

    def shutdown(self):
        pass
"#,
    )
    .unwrap();
    let out = codexcontinue(dir.path()).arg("plugins").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("calculator") && l.contains("python")),
        "{table}"
    );
    assert!(
        table.contains("calculator_plugin.py shadows the built-in calculator"),
        "{table}"
    );

    let out = codexcontinue(dir.path())
        .args(["plugins", "info", "calculator_plugin"])
        .output()
        .unwrap();
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["name"], "calculator");
    assert_eq!(value["kind"], "python");
    assert_eq!(value["shadows"], "calculator");
}

#[tokio::test]
async fn run_logs_the_execution_under_its_session() {
    let dir = workdir();
    let out = codexcontinue(dir.path())
        .args(["run", "--session", "cli-s", "echo", "logged"])
        .env("USER", "ada")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = codexcontinue(dir.path())
        .args(["run", "--session", "cli-s", "calculator", "1/"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The default database is a file in the working directory.
    let url = format!("sqlite://{}", dir.path().join("codexcontinue.db").display());
    let store = codex_store::connect(&url, codex_store::StoreOptions::default())
        .await
        .unwrap();
    let logs = store.plugin_logs("cli-s", None, 10).await.unwrap().items;
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].execution.plugin, "echo");
    assert_eq!(logs[0].execution.output, Some(json!({"echo": "logged"})));
    assert_eq!(logs[0].execution.source, codex_store::ExecutionSource::Cli);
    // No key is involved: the person at the terminal is the actor.
    assert_eq!(logs[0].execution.actor.as_deref(), Some("cli:ada"));
    assert_eq!(logs[1].execution.status, "invalid_input");
    store.close().await;
}

#[test]
fn migrate_creates_the_database_named_by_flag_or_environment() {
    let dir = workdir();
    let out = codexcontinue(dir.path())
        .args(["migrate", "--database-url", "sqlite://flag.db"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("up to date"), "{}", stdout(&out));
    assert!(dir.path().join("flag.db").is_file());
    let out = codexcontinue(dir.path())
        .arg("migrate")
        .env("CODEX_DATABASE_URL", "sqlite://env.db")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("env.db").is_file());
    let out = codexcontinue(dir.path())
        .args(["migrate", "--database-url", "mysql://u:secret@h/db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unsupported database url"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("secret"), "{}", stderr(&out));
}

// Without a model configured `huggingface` vanished from `codexcontinue plugins`, so users
// could see neither that it exists nor what enables it, and `run huggingface` said "not found".
#[test]
fn plugins_lists_huggingface_as_unavailable_with_what_enables_it() {
    let dir = workdir();
    let out = codexcontinue(dir.path()).arg("plugins").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("huggingface") && l.contains("unavailable")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with(
            "~ huggingface is unavailable: set [plugins.huggingface.config] model_dir"
        )),
        "{table}"
    );

    let out = codexcontinue(dir.path())
        .args(["run", "huggingface", "I love this"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("'huggingface' is unavailable") && err.contains("model = "),
        "{err}"
    );

    // A model folder that is not there: listed all the same, with the load error as reason.
    std::fs::write(
        dir.path().join("codexcontinue.toml"),
        "[plugins.huggingface.config]\nmodel_dir = \"no-such-model\"\n",
    )
    .unwrap();
    let out = codexcontinue(dir.path())
        .args(["plugins", "info", "huggingface"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["available"], false);
    let reason = value["unavailable_reason"].as_str().unwrap();
    assert!(
        reason.contains("no-such-model") && reason.contains("does not exist"),
        "{reason}"
    );
}
