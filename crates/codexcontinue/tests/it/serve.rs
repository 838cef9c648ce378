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
