//! `serve` as a real process: port 0, requests over TCP, SIGTERM, a clean exit.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Child;

use crate::{codexcontinue, terminate};

/// Starts `serve` on a free port and returns the child (killed on drop) and its URL.
async fn serve(dir: &std::path::Path) -> (Child, String) {
    crate::serve_in(dir, &[]).await
}

#[tokio::test]
async fn serves_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let (mut child, url) = serve(dir.path()).await;
    let client = reqwest::Client::new();
    let reply: Value = client
        .post(format!("{url}/api/plugins/execute"))
        .json(&json!({"plugin": "echo", "data": "hello"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["result"], json!({"echo": "hello"}));
    let health: Value = client
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    let status = terminate(&mut child, Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
}

#[test]
fn refuses_a_public_bind_without_api_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = codexcontinue(dir.path())
        .args(["serve", "--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("API keys"));
}

/// A Python plugin's exception reaches the caller over HTTP: its type and message always,
/// its traceback only while no API key is configured (`debug` is on by default); `ValueError`
/// and `codexcontinue.InvalidInput` reject the input with 422.
#[tokio::test]
async fn a_python_exception_reaches_the_caller_with_its_type_and_traceback() {
    let plugin = "from codexcontinue import PluginInterface, InvalidInput\n\n\
                  class DividerPlugin(PluginInterface):\n    \
                  def initialize(self):\n        pass\n\n    \
                  def shutdown(self):\n        pass\n\n    \
                  def execute(self, data):\n        \
                  if data == 'bad':\n            \
                  raise InvalidInput('give me a number')\n        \
                  return 1 / int(data)\n";
    const KEY: &str = "a-test-key-of-enough-length";
    for keyed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        std::fs::write(dir.path().join("plugins/divider_plugin.py"), plugin).unwrap();
        if keyed {
            std::fs::write(
                dir.path().join("codexcontinue.toml"),
                format!("api_keys = [\"{KEY}\"]\n"),
            )
            .unwrap();
        }
        let (_server, url) = serve(dir.path()).await;
        let client = reqwest::Client::new();
        let call = |data: &str| {
            client
                .post(format!("{url}/api/plugins/execute"))
                .bearer_auth(KEY)
                .json(&serde_json::json!({"plugin": "divider", "data": data}))
                .send()
        };
        let response = call("0").await.unwrap();
        assert_eq!(response.status(), 500);
        let body: serde_json::Value = response.json().await.unwrap();
        let error = &body["error"];
        assert_eq!(error["code"], "plugin_failed", "{body}");
        assert_eq!(
            error["message"],
            "plugin 'divider' failed: ZeroDivisionError: division by zero"
        );
        assert_eq!(error["exception"], "ZeroDivisionError");
        if keyed {
            assert!(error.get("traceback").is_none(), "{body}");
        } else {
            let traceback = error["traceback"].as_str().expect("a traceback");
            assert!(
                traceback.contains("divider_plugin.py") && traceback.contains("1 / int(data)"),
                "{traceback}"
            );
        }
        let response = call("bad").await.unwrap();
        assert_eq!(response.status(), 422);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_input", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("give me a number"),
            "{body}"
        );
    }
}
