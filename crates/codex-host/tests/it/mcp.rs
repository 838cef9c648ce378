//! MCP servers as plugins, against real servers: `@modelcontextprotocol/server-everything`
//! (npm), `mcp-server-time` (PyPI) and a misbehaving server written with the official
//! Python SDK (`tests/fixtures/mcp/faulty.py`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codex_host::{ExecutionRequest, HostConfig, McpServerConfig, PluginManager};
use codex_plugin::{PluginError, PluginKind};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// The folder `scripts/ensure-test-tools.sh` installed `var`'s tools in, or a failure
/// saying how to install them.
fn tools_dir(var: &str, default: &str, inside: &str) -> PathBuf {
    let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(default)
    });
    assert!(
        dir.join(inside).exists(),
        "{} is missing: run scripts/ensure-test-tools.sh (or set {var})",
        dir.join(inside).display()
    );
    dir
}

fn venv() -> PathBuf {
    tools_dir(
        "CODEX_TEST_VENV",
        ".cache/codexcontinue/venv",
        "bin/mcp-server-time",
    )
}

fn everything() -> McpServerConfig {
    let npm = tools_dir(
        "CODEX_TEST_NPM",
        ".cache/codexcontinue/npm",
        "node_modules/@modelcontextprotocol/server-everything/dist/index.js",
    );
    let script = npm.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    McpServerConfig::stdio("node", [script.display().to_string(), "stdio".to_owned()])
}

fn time() -> McpServerConfig {
    McpServerConfig::stdio(
        venv().join("bin/mcp-server-time").display().to_string(),
        ["--local-timezone", "UTC"],
    )
}

fn faulty(mode: &str, cancel_log: Option<&Path>) -> McpServerConfig {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/faulty.py");
    let mut args = vec![script.display().to_string(), mode.to_owned()];
    args.extend(cancel_log.map(|p| p.display().to_string()));
    McpServerConfig::stdio(venv().join("bin/python").display().to_string(), args)
}

async fn start(
    servers: impl IntoIterator<Item = (&'static str, McpServerConfig)>,
) -> (PluginManager, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = HostConfig::new(dir.path());
    config.mcp_servers = servers
        .into_iter()
        .map(|(n, c)| (n.to_owned(), c))
        .collect::<BTreeMap<_, _>>();
    (PluginManager::builder(config).start().await, dir)
}

/// Waits (bounded) until `ready` holds of the manager, re-checking at each registry change.
async fn wait_until(manager: &PluginManager, what: &str, ready: impl Fn(&PluginManager) -> bool) {
    let mut changes = manager.subscribe();
    let deadline = Instant::now() + WAIT;
    while !ready(manager) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "timed out waiting for {what}; plugins: {:?}; load errors: {:?}",
                names(manager),
                manager.load_errors()
            ),
        }
    }
}

/// The text a tool answered, whether as text or as structured `{"result": text}`.
fn text(result: &Value) -> &str {
    result
        .as_str()
        .or_else(|| result["result"].as_str())
        .unwrap_or_else(|| panic!("not a text result: {result}"))
}

fn names(manager: &PluginManager) -> Vec<String> {
    manager.list().iter().map(|e| e.info.name.clone()).collect()
}

fn has(name: &'static str) -> impl Fn(&PluginManager) -> bool {
    move |m| m.get(name).is_ok()
}

async fn run(manager: &PluginManager, plugin: &str, data: Value) -> Result<Value, PluginError> {
    manager
        .execute(ExecutionRequest::new(plugin, data))
        .await
        .map(|e| e.result)
}

#[tokio::test]
async fn tools_of_real_servers_become_plugins() {
    let (manager, _dir) = start([("everything", everything()), ("time", time())]).await;
    wait_until(&manager, "both servers' tools", |m| {
        has("everything__echo")(m) && has("time__get_current_time")(m)
    })
    .await;

    let echo = manager.get("everything__echo").unwrap();
    assert_eq!(echo.kind, PluginKind::Mcp);
    assert!(!echo.info.description.is_empty());
    assert_eq!(
        echo.info.input_schema["properties"]["message"]["type"],
        "string"
    );

    let result = run(
        &manager,
        "everything__echo",
        json!({"message": "hello mcp"}),
    )
    .await
    .unwrap();
    assert!(result.to_string().contains("hello mcp"), "{result}");
    // A plain string holding a JSON object is accepted as the arguments.
    let result = run(
        &manager,
        "everything__echo",
        json!(r#"{"message": "as text"}"#),
    )
    .await
    .unwrap();
    assert!(result.to_string().contains("as text"), "{result}");

    let now = run(
        &manager,
        "time__get_current_time",
        json!({"timezone": "UTC"}),
    )
    .await
    .unwrap();
    assert!(now.to_string().contains("UTC"), "{now}");
    // The server answers a bad timezone with isError: a plugin failure with its message.
    let err = run(
        &manager,
        "time__get_current_time",
        json!({"timezone": "Mars/Olympus"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PluginError::Raised { .. }), "{err:?}");
    assert!(err.to_string().contains("Mars/Olympus"), "{err}");

    manager.shutdown().await;
}

#[tokio::test]
async fn the_allow_list_keeps_only_listed_tools() {
    let mut config = everything();
    config.tools = Some(vec!["echo".to_owned()]);
    let (manager, _dir) = start([("everything", config)]).await;
    wait_until(&manager, "everything__echo", has("everything__echo")).await;
    let mcp: Vec<String> = manager
        .list()
        .iter()
        .filter(|e| e.kind == PluginKind::Mcp)
        .map(|e| e.info.name.clone())
        .collect();
    assert_eq!(mcp, ["everything__echo"]);
    manager.shutdown().await;
}

#[tokio::test]
async fn errors_and_structured_content() {
    let (manager, _dir) = start([("faulty", faulty("serve", None))]).await;
    wait_until(&manager, "faulty__ok", has("faulty__ok")).await;
    let err = run(&manager, "faulty__fail", json!({"reason": "no luck today"}))
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Raised { .. }), "{err:?}");
    assert!(err.to_string().contains("no luck today"), "{err}");
    let sum = run(&manager, "faulty__structured", json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    // Structured content when the server sends it, else the text (here JSON text).
    let sum = match sum {
        Value::String(text) => serde_json::from_str(&text).unwrap(),
        other => other,
    };
    assert!(
        sum == json!({"sum": 5}) || sum == json!({"result": {"sum": 5}}),
        "{sum}"
    );
    let err = run(&manager, "faulty__ok", json!([1, 2]))
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::InvalidInput(_)), "{err:?}");
    manager.shutdown().await;
}

#[tokio::test]
async fn a_server_that_exits_at_start_is_a_load_error_and_the_rest_serves() {
    let (manager, _dir) = start([
        ("broken", faulty("exit", None)),
        ("faulty", faulty("serve", None)),
    ])
    .await;
    wait_until(&manager, "the load error and faulty__ok", |m| {
        has("faulty__ok")(m) && m.load_errors().iter().any(|e| e.file == "mcp:broken")
    })
    .await;
    let error = manager
        .load_errors()
        .into_iter()
        .find(|e| e.file == "mcp:broken")
        .unwrap();
    assert!(error.error.contains("broken"), "{error:?}");
    assert!(
        error.error.contains("refusing to start"),
        "stderr is in the error: {error:?}"
    );
    assert!(!names(&manager).iter().any(|n| n.starts_with("broken__")));
    let ok = run(&manager, "faulty__ok", json!({"text": "still"}))
        .await
        .unwrap();
    assert!(text(&ok).starts_with("still from"), "{ok}");
    manager.shutdown().await;
}

#[tokio::test]
async fn a_server_that_dies_mid_call_is_crashed_then_restarted() {
    let (manager, _dir) = start([("faulty", faulty("serve", None))]).await;
    wait_until(&manager, "faulty__ok", has("faulty__ok")).await;
    let before = run(&manager, "faulty__ok", json!({})).await.unwrap();

    let err = run(&manager, "faulty__die", json!({})).await.unwrap_err();
    assert!(matches!(err, PluginError::Crashed(_)), "{err:?}");

    // Meanwhile its tools say so; once restarted (a new process) they work again.
    let deadline = Instant::now() + WAIT;
    let mut changes = manager.subscribe();
    let after = loop {
        match run(&manager, "faulty__ok", json!({})).await {
            Ok(after) => break after,
            Err(PluginError::Crashed(message)) => {
                assert!(message.contains("faulty"), "{message}");
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::timeout(left, changes.changed())
                    .await
                    .expect("the server was not restarted in time")
                    .unwrap();
            }
            Err(other) => panic!("{other:?}"),
        }
    };
    assert_ne!(before, after, "a new process answers");
    manager.shutdown().await;
}

#[tokio::test]
async fn a_call_that_hangs_times_out_and_is_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cancelled.log");
    let mut config = faulty("serve", Some(&log));
    config.timeout_ms = Some(500);
    let (manager, _plugins) = start([("faulty", config)]).await;
    wait_until(&manager, "faulty__hang", has("faulty__hang")).await;

    let started = Instant::now();
    let err = run(&manager, "faulty__hang", json!({})).await.unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // The server got `notifications/cancelled` and stopped the call.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&log).unwrap_or_default() != "hang\n" {
        assert!(
            Instant::now() < deadline,
            "no cancellation reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the server keeps serving.
    run(&manager, "faulty__ok", json!({})).await.unwrap();
    manager.shutdown().await;
}

#[tokio::test]
async fn hijacking_environment_is_refused_and_nothing_runs() {
    let mut config = faulty("serve", None);
    config
        .env
        .insert("LD_PRELOAD".to_owned(), "/tmp/evil.so".to_owned());
    let (manager, _dir) = start([("evil", config)]).await;
    wait_until(&manager, "the load error", |m| {
        m.load_errors().iter().any(|e| e.file == "mcp:evil")
    })
    .await;
    let error = manager
        .load_errors()
        .into_iter()
        .find(|e| e.file == "mcp:evil")
        .unwrap();
    assert!(error.error.contains("LD_PRELOAD"), "{error:?}");
    assert!(!names(&manager).iter().any(|n| n.starts_with("evil__")));
    manager.shutdown().await;
}

#[tokio::test]
async fn shutdown_leaves_no_server_process_behind() {
    let (manager, _dir) = start([("faulty", faulty("serve", None))]).await;
    wait_until(&manager, "faulty__ok", has("faulty__ok")).await;
    let answer = run(&manager, "faulty__ok", json!({})).await.unwrap();
    let pid: u32 = text(&answer).rsplit(' ').next().unwrap().parse().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    manager.shutdown().await;
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "server {pid} outlived the shutdown"
    );
}

#[tokio::test]
async fn a_manifest_declares_a_server_and_reload_starts_and_stops_it() {
    let (manager, dir) = start([]).await;
    let config = faulty("serve", None);
    let manifest = format!(
        "[mcp]\ncommand = {:?}\nargs = {:?}\ntools = [\"ok\"]\ntimeout_ms = 4321\n",
        config.command.unwrap(),
        config.args
    );
    let path = dir.path().join("clock_plugin.toml");
    std::fs::write(&path, manifest).unwrap();
    manager.reload().await;
    wait_until(&manager, "clock__ok", has("clock__ok")).await;
    assert!(manager.get("clock__die").is_err(), "the allow-list applies");
    // The listing shows the server's own limit and the manifest it was declared in.
    let entry = manager.get("clock__ok").unwrap();
    assert_eq!(entry.limits.timeout_ms, 4321);
    assert_eq!(entry.declared_in, Some(path.display().to_string()));
    let answer = run(&manager, "clock__ok", json!({})).await.unwrap();
    let first: u32 = text(&answer).rsplit(' ').next().unwrap().parse().unwrap();

    // An edit of one of its files (the manifest here; its script too) restarts the server.
    let before = manager.get("clock__ok").unwrap();
    let manifest_text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{manifest_text}# edited\n")).unwrap();
    manager.reload().await;
    wait_until(&manager, "the restarted server's tools", |m| {
        m.get("clock__ok")
            .is_ok_and(|entry| !std::sync::Arc::ptr_eq(&entry, &before))
    })
    .await;
    let answer = run(&manager, "clock__ok", json!({})).await.unwrap();
    let pid: u32 = text(&answer).rsplit(' ').next().unwrap().parse().unwrap();
    assert_ne!(pid, first, "the server was restarted");
    assert!(
        !Path::new(&format!("/proc/{first}")).exists(),
        "the old server is gone"
    );

    std::fs::remove_file(&path).unwrap();
    manager.reload().await;
    assert!(
        manager.get("clock__ok").is_err(),
        "its tools unload with the file"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "its process is gone"
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn tools_list_changed_refreshes_the_plugins() {
    let (manager, _dir) = start([("faulty", faulty("serve", None))]).await;
    wait_until(&manager, "faulty__grow", has("faulty__grow")).await;
    assert_eq!(
        manager.get("faulty__grow").unwrap().declared_in.as_deref(),
        Some("config")
    );
    assert!(!names(&manager).contains(&"faulty__extra".to_owned()));
    run(&manager, "faulty__grow", json!({})).await.unwrap();
    wait_until(&manager, "faulty__extra", has("faulty__extra")).await;
    let extra = run(&manager, "faulty__extra", json!({})).await.unwrap();
    assert_eq!(text(&extra), "extra", "{extra}");
    manager.shutdown().await;
}

/// A progress sink for one call, and the receiving end of its reports.
fn progress_channel() -> (
    codex_plugin::ProgressSink,
    tokio::sync::mpsc::UnboundedReceiver<codex_plugin::Progress>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let sink: codex_plugin::ProgressSink = std::sync::Arc::new(move |report| {
        let _ = tx.send(report);
    });
    (sink, rx)
}

/// Waits, within a bound, for a call's first progress report.
async fn first_report(reports: &mut tokio::sync::mpsc::UnboundedReceiver<codex_plugin::Progress>) {
    tokio::time::timeout(Duration::from_secs(10), reports.recv())
        .await
        .expect("the call reported progress within 10 s")
        .expect("the call is still running");
}

#[tokio::test]
async fn a_cancelled_call_reaches_the_server_as_notifications_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cancelled.log");
    let (manager, _plugins) = start([("faulty", faulty("serve", Some(&log)))]).await;
    wait_until(&manager, "faulty__hang", has("faulty__hang")).await;

    let (started, mut reports) = progress_channel();
    let request = ExecutionRequest::new("faulty__hang", json!({})).with_progress(started);
    let cancel = request.cancel.clone();
    let call = tokio::spawn({
        let manager = manager.clone();
        async move { manager.execute(request).await }
    });
    // Cancelled once the server runs the tool (it reports "started"), so the cancellation
    // has a call to reach.
    first_report(&mut reports).await;
    cancel.cancel();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err, PluginError::Cancelled);
    // The server got `notifications/cancelled` and stopped the call.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&log).unwrap_or_default() != "hang\n" {
        assert!(
            Instant::now() < deadline,
            "no cancellation reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run(&manager, "faulty__ok", json!({})).await.unwrap();
    manager.shutdown().await;
}

#[tokio::test]
async fn everythings_long_running_operation_is_cancelled_and_the_server_keeps_serving() {
    let (manager, _plugins) = start([("everything", everything())]).await;
    let long = "everything__trigger-long-running-operation";
    wait_until(&manager, long, has(long)).await;

    let (sink, mut reports) = progress_channel();
    let request =
        ExecutionRequest::new(long, json!({"duration": 60, "steps": 600})).with_progress(sink);
    let cancel = request.cancel.clone();
    let call = tokio::spawn({
        let manager = manager.clone();
        async move { manager.execute(request).await }
    });
    // Cancelled once the operation runs (its first step's progress, after 0.1 s).
    first_report(&mut reports).await;
    let cancelled_at = Instant::now();
    cancel.cancel();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err, PluginError::Cancelled);
    assert!(cancelled_at.elapsed() < Duration::from_millis(500));
    let echoed = run(
        &manager,
        "everything__echo",
        json!({"message": "still here"}),
    )
    .await
    .unwrap();
    assert!(text(&echoed).contains("still here"), "{echoed}");
    manager.shutdown().await;
}

#[tokio::test]
async fn everythings_long_running_operation_reports_progress() {
    let (manager, _plugins) = start([("everything", everything())]).await;
    let long = "everything__trigger-long-running-operation";
    wait_until(&manager, long, has(long)).await;
    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let request = ExecutionRequest::new(long, json!({"duration": 0.3, "steps": 3})).with_progress(
        std::sync::Arc::new({
            let reports = reports.clone();
            move |report| reports.lock().unwrap().push(report)
        }),
    );
    let result = manager.execute(request).await.unwrap();
    assert!(
        text(&result.result).contains("Steps: 3"),
        "{}",
        result.result
    );
    let fractions: Vec<f64> = reports
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.fraction.unwrap())
        .collect();
    assert_eq!(fractions, [1.0 / 3.0, 2.0 / 3.0, 1.0]);
    manager.shutdown().await;
}

#[tokio::test]
async fn the_calls_trace_reaches_the_server_in_meta() {
    let (manager, _dir) = start([("faulty", faulty("serve", None))]).await;
    wait_until(&manager, "faulty__trace", has("faulty__trace")).await;
    // Outside any trace, the call carries none.
    let none = run(&manager, "faulty__trace", json!({})).await.unwrap();
    assert!(!none.to_string().contains("-01"), "{none}");
    let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let trace = codex_plugin::trace::TraceContext::parse(header).unwrap();
    let seen = codex_plugin::trace::scope(trace, run(&manager, "faulty__trace", json!({})))
        .await
        .unwrap();
    assert!(seen.to_string().contains(header), "{seen}");
    manager.shutdown().await;
}
