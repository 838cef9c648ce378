//! `codexcontinue chat` as users run it: lines piped into stdin, the turns on stdout.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::{codexcontinue, stdout};

/// Runs `chat` with `args`, feeds it `input` and returns its output once it exits.
async fn chat(dir: &std::path::Path, args: &[&str], input: &str) -> std::process::Output {
    let mut command = tokio::process::Command::from(codexcontinue(dir));
    let mut child = command
        .arg("chat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("chat did not exit")
        .unwrap()
}

#[tokio::test]
async fn chat_runs_plugins_switches_sessions_and_ends_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let out = chat(
        dir.path(),
        &["--session", "t1"],
        "/run echo {\"x\":1}\n/session t2\n/run calculator 2*(3+4)\n/exit\n/run echo never\n",
    )
    .await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", crate::stderr(&out));
    assert!(text.contains("session t1"), "{text}");
    assert!(text.contains("\"x\": 1"), "{text}");
    assert!(text.contains("session t2"), "{text}");
    assert!(text.contains("14"), "{text}");
    // `/exit` ends the chat: the line after it is never run.
    assert!(!text.contains("never"), "{text}");
}

#[tokio::test]
async fn chat_without_a_model_says_so_and_ends_at_end_of_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let out = chat(dir.path(), &[], "hello there\n").await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", crate::stderr(&out));
    // A new session id is printed at start.
    let first = text.lines().next().unwrap_or_default();
    let id = first.strip_prefix("session ").expect(&text);
    assert!(id.len() >= 32, "{first}");
    assert!(text.to_lowercase().contains("model"), "{text}");
}

#[tokio::test]
async fn a_tool_call_that_needs_approval_is_asked_about_at_the_terminal() {
    use codex_agent::test_support::{Scripted, ScriptedServer};
    use serde_json::json;

    let model = ScriptedServer::start(vec![
        Scripted::tool_call("echo", json!({"text": "one"})),
        Scripted::reply("first done"),
        Scripted::tool_call("echo", json!({"text": "two"})),
        Scripted::reply("second done"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("codexcontinue.toml"),
        crate::scripted_model_config(model.base_url(), None),
    )
    .unwrap();
    // `approve` asks even for echo; "a" answers yes for the rest of the session, so the
    // second turn's call is not asked about.
    let out = chat(
        dir.path(),
        &["--session", "ap", "--approval", "approve"],
        "first\na\nsecond\n",
    )
    .await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", crate::stderr(&out));
    assert_eq!(text.matches("?? run echo").count(), 1, "{text}");
    assert_eq!(text.matches("<- echo").count(), 2, "{text}");
    assert!(
        text.contains("first done") && text.contains("second done"),
        "{text}"
    );
}
