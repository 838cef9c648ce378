//! Starting the `codexcontinue` binary under test: a clean environment, and `serve` on a free
//! port. Shared with the `llama` target, which includes this file with `#[path]`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// The binary under test, run in `dir` with a clean `CODEX_*` environment.
pub fn codexcontinue(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codexcontinue"));
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CODEX_") {
            command.env_remove(key);
        }
    }
    command
}

/// Starts `serve --bind 127.0.0.1:0 ARGS` in `dir` and answers the child (killed on drop) and
/// the URL it reports once listening (bounded wait).
pub async fn serve_in(dir: &Path, args: &[&str]) -> (Child, String) {
    let mut command = tokio::process::Command::from(codexcontinue(dir));
    let mut child = command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("codexcontinue listening on ") {
                return url.to_owned();
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server did not report its address");
    wait_until_loaded(&url).await;
    (child, url)
}

/// Waits, bounded, until `/health` says the plugins have loaded: `serve` listens at once
/// and loads them in the background.
pub async fn wait_until_loaded(url: &str) {
    let client = reqwest::Client::new();
    let loaded = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(response) = client.get(format!("{url}/health")).send().await
                && let Ok(health) = response.json::<serde_json::Value>().await
                && health["plugins_state"] == "ready"
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(loaded.is_ok(), "the plugins did not load within 60 s");
}
