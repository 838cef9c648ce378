//! Running CodexContinue for a team: a real Prometheus scrapes `/metrics` and its PromQL
//! answers count the calls made, `promtool` accepts the exposition, and a request's id and
//! trace reach the JSON logs and a Python plugin's context.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// How long Prometheus may take to start, scrape and answer.
const PROMETHEUS_WAIT: Duration = Duration::from_secs(60);

/// A program `scripts/ensure-test-tools.sh` installs (Debian's `prometheus` package).
fn tool(variable: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: run scripts/ensure-test-tools.sh (it installs Debian's prometheus)",
        path.display()
    );
    path
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts Prometheus scraping `target` (`127.0.0.1:<port>`) every second; answers the child
/// (killed on drop) and its URL.
fn start_prometheus(dir: &Path, target: &str) -> (Child, String) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: codex\n    metrics_path: /metrics\n\
             \x20   static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = tokio::process::Command::new(tool("CODEX_TEST_PROMETHEUS", "/usr/bin/prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

/// The value of an instant PromQL query with one result, once Prometheus has one (`None`
/// while it is starting or has not scraped yet).
async fn query(client: &reqwest::Client, prometheus: &str, promql: &str) -> Option<f64> {
    let response = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .ok()?;
    let body: Value = response.json().await.ok()?;
    let value = body["data"]["result"].get(0)?["value"][1].as_str()?;
    value.parse().ok()
}

/// Re-asks `promql` until it answers `expected`; panics after [`PROMETHEUS_WAIT`]. Prometheus
/// offers no notification of a scrape, so this polls its API, bounded.
async fn eventually(client: &reqwest::Client, prometheus: &str, promql: &str, expected: f64) {
    let deadline = Instant::now() + PROMETHEUS_WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        last = query(client, prometheus, promql).await;
        if last == Some(expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{promql} answered {last:?}, not {expected}, within {PROMETHEUS_WAIT:?}");
}

#[tokio::test]
async fn prometheus_scrapes_the_counts_of_known_calls() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let (_server, url) = crate::serve_in(dir.path(), &[]).await;
    let client = reqwest::Client::new();
    for (input, status) in [
        ("1+1", 200),
        ("2*(3+4)", 200),
        ("3*3", 200),
        ("2*(", 422),
        ("", 422),
    ] {
        let reply = client
            .post(format!("{url}/api/plugins/execute"))
            .json(&json!({"plugin": "calculator", "data": input}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), status, "{input}");
    }

    // The exposition passes promtool's checks, which print nothing when all is well.
    let exposition = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut promtool =
        tokio::process::Command::new(tool("CODEX_TEST_PROMTOOL", "/usr/bin/promtool"))
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
    let mut stdin = promtool.stdin.take().unwrap();
    stdin.write_all(exposition.as_bytes()).await.unwrap();
    drop(stdin);
    let checked = tokio::time::timeout(Duration::from_secs(30), promtool.wait_with_output())
        .await
        .expect("promtool did not finish")
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{exposition}"
    );

    let target = url.trim_start_matches("http://");
    let (_prometheus, prometheus) = start_prometheus(dir.path(), target);
    eventually(&client, &prometheus, "up{job=\"codex\"}", 1.0).await;
    eventually(
        &client,
        &prometheus,
        "sum(codex_plugin_calls_total{plugin=\"calculator\",kind=\"native\",outcome=\"ok\"})",
        3.0,
    )
    .await;
    eventually(
        &client,
        &prometheus,
        "sum(codex_plugin_calls_total{plugin=\"calculator\",outcome=\"invalid_input\"})",
        2.0,
    )
    .await;
    eventually(
        &client,
        &prometheus,
        "sum(codex_http_requests_total{method=\"POST\",route=\"/api/plugins/execute\",status=\"422\"})",
        2.0,
    )
    .await;
    eventually(
        &client,
        &prometheus,
        "sum(codex_plugin_call_duration_seconds_count{plugin=\"calculator\"})",
        5.0,
    )
    .await;
    // Five executions were logged, whatever the batches were.
    eventually(
        &client,
        &prometheus,
        "sum(codex_store_commit_batch_size_sum)",
        5.0,
    )
    .await;
    eventually(&client, &prometheus, "count(codex_build_info)", 1.0).await;
}

/// A Python plugin that answers the context of its call.
const CONTEXT_PLUGIN: &str = "\
import codexcontinue


class CtxPlugin(codexcontinue.PluginInterface):
    def initialize(self):
        pass

    def execute(self, data):
        return codexcontinue.context()

    def shutdown(self):
        pass
";

#[tokio::test]
async fn request_id_and_trace_reach_json_logs_and_python_plugins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/ctx_plugin.py"), CONTEXT_PLUGIN).unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = tokio::process::Command::from(crate::codexcontinue(dir.path()));
    let mut child = command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("CODEX_LOG_FORMAT", "json")
        .env("RUST_LOG", "info,codex_server=debug")
        .stdout(Stdio::piped())
        .stderr(log)
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

    let reply: Value = reqwest::Client::new()
        .post(format!("{url}/api/plugins/execute"))
        .header("traceparent", TRACEPARENT)
        .header("x-request-id", "req-ops-1")
        .json(&json!({"plugin": "ctx", "data": "hi", "session_id": "s-ctx"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let context = &reply["result"];
    assert_eq!(context["session_id"], "s-ctx", "{reply}");
    let sent = context["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"));
    assert!(sent.starts_with(&format!("00-{TRACE_ID}-")), "{sent}");
    assert!(
        !sent.contains("00f067aa0ba902b7"),
        "the span id must be ours: {sent}"
    );

    crate::terminate(&mut child, Duration::from_secs(30)).await;
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let answered = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| {
            line["fields"]["message"] == "request answered"
                && line["span"]["request_id"] == "req-ops-1"
        })
        .unwrap_or_else(|| panic!("no JSON line of the request in\n{logs}"));
    assert_eq!(answered["span"]["trace_id"], TRACE_ID, "{answered}");
    assert_eq!(
        answered["span"]["route"], "/api/plugins/execute",
        "{answered}"
    );
}
