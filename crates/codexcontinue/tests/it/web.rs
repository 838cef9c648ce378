//! The web UI in a real browser: `web/tests/e2e.mjs` drives headless Chromium (Debian's, through
//! playwright-core) against the real binary, with a scripted OpenAI-protocol model, a Python
//! plugin, a Wasm plugin built from source and a plugin file that fails to load; and against a
//! second server that requires an API key and has no model.

use std::path::{Path, PathBuf};
use std::time::Duration;

use codex_agent::test_support::{Scripted, ScriptedServer};
use serde_json::json;

const KEY: &str = "e2e-key-0123456789abcdef";

/// Every check of the script, by the name it prints.
const CHECKS: &[&str] = &[
    "the page loads under its content security policy",
    "a chat message streams a reply with a tool card whose result is right",
    "/run completes plugin names and runs the plugin",
    "Esc stops a reply that is still coming",
    "a tool call waiting for approval asks in its card, and the answer resumes the turn",
    "/ focuses the search box",
    "the plugin list shows kinds, versions, switches and load errors",
    "a plugin runs from its generated form",
    "a bad input shows the error code and message",
    "the raw JSON mode sends what the form cannot express",
    "the execution appears in the logs",
    "the execution appears in the session's timeline, deep-linked",
    "the chat's turn is in its timeline, filtered by kind",
    "disabling a plugin makes the next run show plugin_disabled",
    "the analytics show the calls just made",
    "the theme follows the system and the switch",
    "a session of 10,000 events scrolls smoothly, loading pages as it goes",
    "every view is usable at 400 px",
    "screenshots and axe in the light theme report no serious or critical violation",
    "screenshots and axe in the dark theme report no serious or critical violation",
    "with API keys the page works only after the key is entered",
    "without a model the chat says how to configure one, and /run still works",
    "no script error and no CSP violation on any page",
];

/// A Python plugin whose input schema has every kind of field the form generates.
const FORM_DEMO: &str = r#"
from codexcontinue import InvalidInput, PluginInterface


class FormDemoPlugin(PluginInterface):
    description = "Repeats a text: a schema with every kind of form field."
    version = "1.2.3"
    category = "test"
    parameters = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "What to repeat."},
            "times": {"type": "integer", "minimum": 1, "default": 1},
            "shout": {"type": "boolean"},
            "style": {"type": "string", "enum": ["plain", "fancy"]},
            "meta": {"type": "object", "properties": {"tag": {"type": "string"}}},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["text"],
    }

    def initialize(self):
        pass

    def execute(self, data):
        text = data.get("text") if isinstance(data, dict) else None
        if not text:
            raise InvalidInput("'text' must not be empty")
        word = text.upper() if data.get("shout") else text
        return {
            "text": " ".join([word] * data.get("times", 1)),
            "style": data.get("style", "plain"),
            "tag": (data.get("meta") or {}).get("tag"),
            "tags": data.get("tags", []),
        }

    def shutdown(self):
        pass
"#;

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `scripts/ensure-test-tools.sh` and export what it prints")
    })
}

/// A folder with `plugins/` (the test plugins) and a config with `extra`, and `model` as the
/// model when given.
fn server_dir(model: Option<&ScriptedServer>, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("form_demo_plugin.py"), FORM_DEMO).unwrap();
    std::fs::write(plugins.join("broken_plugin.py"), "this is not python(\n").unwrap();
    // The module alone: its `describe` export gives the metadata, and the defaults the limits.
    let wasm = PathBuf::from(required_env("CODEX_WASM_PLUGINS_DIR")).join("word_count_plugin.wasm");
    std::fs::copy(&wasm, plugins.join("word_count_plugin.wasm"))
        .unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    let model = model.map_or(String::new(), |model| {
        crate::scripted_model_config(model.base_url(), Some(60_000))
    });
    std::fs::write(
        dir.path().join("codexcontinue.toml"),
        format!("watch = false\n{extra}\n{model}"),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn the_web_ui_works_in_headless_chromium() {
    let npm = required_env("CODEX_TEST_NPM");
    let chromium = std::env::var("CODEX_TEST_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/ensure-test-tools.sh"
    );
    let model = ScriptedServer::start(vec![
        Scripted::tool_call("word_count", json!({"text": "hello brave new world"})),
        Scripted::chunks(&[
            "There are ",
            "**4 words** in ",
            "*hello brave new world*.",
            "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>",
        ]),
        // The turn the page stops: the model takes longer than the test waits.
        Scripted::slow(Duration::from_secs(30), Scripted::reply("too late")),
        // The turn whose tool call waits for the page's approval.
        Scripted::tool_call("word_count", json!({"text": "approve me please"})),
        Scripted::reply("counted after approval"),
    ])
    .await;
    let dir = server_dir(Some(&model), "");
    let (_server, url) = crate::serve_in(dir.path(), &[]).await;
    // The second server has no model: its chat says how to configure one.
    let keyed_dir = server_dir(None, &format!("api_keys = [\"{KEY}\"]"));
    let (_keyed, keyed_url) = crate::serve_in(keyed_dir.path(), &[]).await;

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    println!("web UI screenshots: {}", shots.display());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/tests/e2e.mjs");
    let output = tokio::time::timeout(
        Duration::from_secs(420),
        tokio::process::Command::new("node")
            .arg(&script)
            .env("CODEX_E2E_URL", &url)
            .env("CODEX_E2E_KEYED_URL", &keyed_url)
            .env("CODEX_E2E_KEY", KEY)
            .env("CODEX_E2E_SHOTS", &shots)
            .env("CODEX_TEST_NPM", &npm)
            .env("CODEX_TEST_CHROMIUM", &chromium)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser test did not finish in time")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for check in CHECKS {
        assert!(
            stdout.lines().any(|line| line == format!("ok - {check}")),
            "check missing: {check}\n{stdout}"
        );
    }
    assert!(
        stdout.contains(&format!("{} passed, 0 failed", CHECKS.len())),
        "{stdout}"
    );
    for name in ["chat", "plugins", "plugin", "timeline", "logs", "analytics"] {
        for theme in ["light", "dark"] {
            let shot = shots.join(format!("{name}-{theme}.png"));
            assert!(shot.exists(), "{} missing", shot.display());
        }
    }
}
