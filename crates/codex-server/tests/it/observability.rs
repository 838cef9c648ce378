//! What operators see: `/metrics` after known calls, the request id given back, and the
//! caller's W3C `traceparent` passed on to a model provider and an MCP server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use codex_agent::test_support::{Scripted, ScriptedServer};
use codex_host::McpServerConfig;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::app::TestApp;

/// The caller's trace in the examples of the W3C specification.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The value of the sample of `family` whose labels include all of `labels`, if any.
fn sample(exposition: &str, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(family)?;
        let (label_text, value) = match rest.strip_prefix('{') {
            Some(rest) => rest.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        labels
            .iter()
            .all(|(k, v)| {
                label_text
                    .split(',')
                    .any(|pair| pair == format!("{k}=\"{v}\""))
            })
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// Sends `request` through the router and answers its status, headers and body text.
async fn send(
    app: &TestApp,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn metrics(app: &TestApp) -> String {
    let (status, headers, text) =
        send(app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    text
}

#[tokio::test]
async fn metrics_count_requests_and_plugin_calls_by_outcome() {
    let app = TestApp::new().await;
    let ok = app.execute("calculator", json!("2*(3+4)")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let bad = app.execute("calculator", json!("2*(")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let slow = app.execute("slow", json!(5_000)).await;
    assert_eq!(slow.status, StatusCode::GATEWAY_TIMEOUT, "{}", slow.body);

    let text = metrics(&app).await;
    let calls = "codex_plugin_calls_total";
    let calculator = [("plugin", "calculator"), ("kind", "native")];
    for (outcome, labels) in [
        ("ok", &calculator[..]),
        ("invalid_input", &calculator[..]),
        ("timeout", &[("plugin", "slow"), ("kind", "native")][..]),
    ] {
        let mut labels = labels.to_vec();
        labels.push(("outcome", outcome));
        let count =
            sample(&text, calls, &labels).unwrap_or_else(|| panic!("no {labels:?} in\n{text}"));
        assert!(count >= 1.0, "{labels:?}: {count}");
    }
    assert!(
        sample(
            &text,
            "codex_plugin_call_duration_seconds_bucket",
            &[("plugin", "calculator"), ("le", "+Inf")]
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "codex_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/plugins/execute"),
                ("status", "200")
            ]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "codex_http_request_duration_seconds_count",
            &[("route", "/api/plugins/execute")]
        )
        .is_some(),
        "{text}"
    );
    // Every execution is logged through a group commit.
    assert!(
        sample(&text, "codex_store_commit_batch_size_count", &[]).is_some_and(|n| n >= 3.0),
        "{text}"
    );
    assert!(
        sample(&text, "codex_store_commit_duration_seconds_count", &[]).is_some(),
        "{text}"
    );
    assert!(
        sample(&text, "codex_store_queue_depth", &[]).is_some(),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "codex_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("# HELP codex_plugin_calls_total "), "{text}");
    assert!(
        text.contains("# TYPE codex_plugin_call_duration_seconds histogram"),
        "{text}"
    );
}

#[tokio::test]
async fn metric_labels_name_routes_never_paths() {
    let app = TestApp::new().await;
    let reply = app
        .get("/memory/audit/a-session-id-that-must-not-be-a-label")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = app.get("/no/such/path/either").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let text = metrics(&app).await;
    assert!(
        !text.contains("a-session-id-that-must-not-be-a-label"),
        "{text}"
    );
    assert!(!text.contains("/no/such/path"), "{text}");
    assert!(
        sample(
            &text,
            "codex_http_requests_total",
            &[("route", "/memory/audit/{session_id}")]
        )
        .is_some(),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "codex_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        )
        .is_some(),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_need_a_key_when_keys_are_configured() {
    let app = TestApp::with_api_keys(vec!["k1".to_owned()]).await;
    let (status, _, _) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let request = Request::get("/metrics")
        .header("authorization", "Bearer k1")
        .body(Body::empty())
        .unwrap();
    let (status, _, text) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_given_one_is_kept() {
    let app = TestApp::new().await;
    let (_, headers, _) = send(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let request = Request::get("/no/such/route")
        .header("x-request-id", "caller-chosen-7")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["x-request-id"], "caller-chosen-7");
}

/// Asserts that `sent` continues the caller's trace from a span of our own.
fn continues_the_callers_trace(sent: &str) {
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(parts[0], "00", "{sent}");
    assert_eq!(parts[1], TRACE_ID, "{sent}");
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "the span id must be ours: {sent}"
    );
    assert_eq!(parts[3], "01", "{sent}");
}

fn chat_request(path: &str, message: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .header("traceparent", TRACEPARENT)
        .body(Body::from(
            json!({"message": message, "session_id": "traced"}).to_string(),
        ))
        .unwrap()
}

#[tokio::test]
async fn traceparent_reaches_the_model_provider_whole_and_streamed() {
    let model = ScriptedServer::start(vec![Scripted::reply("one"), Scripted::reply("two")]).await;
    let config = codex_agent::chat::ChatConfig {
        providers: vec![
            serde_json::from_value(json!({
                "name": "scripted", "base_url": model.base_url(), "model": "m",
                "timeout_ms": 10_000, "max_retries": 0,
            }))
            .unwrap(),
        ],
        ..Default::default()
    };
    let app = TestApp::with_model(config).await;
    let (status, _, text) = send(&app, chat_request("/chat", "hello")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // The streamed turn runs while the body is polled, after the handler returned.
    let (status, _, text) = send(&app, chat_request("/chat/stream", "again")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("two"), "{text}");
    let sent = model.traceparents();
    assert_eq!(sent.len(), 2, "{sent:?}");
    for header in &sent {
        continues_the_callers_trace(header.as_deref().expect("no traceparent sent"));
    }
    // Provider metrics counted both answers and their tokens.
    let text = metrics(&app).await;
    assert!(
        sample(
            &text,
            "codex_model_requests_total",
            &[("provider", "scripted"), ("outcome", "ok")]
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "codex_model_tokens_total",
            &[("provider", "scripted"), ("direction", "in")]
        )
        .is_some_and(|n| n >= 20.0),
        "{text}"
    );
}

/// The host's misbehaving MCP server (Python SDK), whose `trace` tool answers the
/// `traceparent` its call carried in `_meta`.
fn faulty() -> McpServerConfig {
    let venv = std::env::var_os("CODEX_TEST_VENV").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/codexcontinue/venv")
        },
        PathBuf::from,
    );
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../codex-host/tests/fixtures/mcp/faulty.py");
    McpServerConfig::stdio(
        venv.join("bin/python").display().to_string(),
        [script.display().to_string(), "serve".to_owned()],
    )
}

#[tokio::test]
async fn traceparent_reaches_an_mcp_server_in_meta() {
    let app = TestApp::with(|config| {
        config.mcp_servers.insert("faulty".to_owned(), faulty());
    })
    .await;
    let mut changes = app.state.plugins.subscribe();
    tokio::time::timeout(Duration::from_secs(60), async {
        while app.state.plugins.get("faulty__trace").is_err() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no faulty__trace: {:?}", app.state.plugins.load_errors()));
    let request = Request::post("/api/plugins/execute")
        .header("content-type", "application/json")
        .header("traceparent", TRACEPARENT)
        .body(Body::from(
            json!({"plugin": "faulty__trace", "data": {}}).to_string(),
        ))
        .unwrap();
    let (status, _, text) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let result: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sent = result["result"].to_string();
    let header = sent
        .split('"')
        .find(|piece| piece.starts_with("00-"))
        .unwrap_or_else(|| panic!("no traceparent in {text}"));
    continues_the_callers_trace(header);
    let text = metrics(&app).await;
    assert_eq!(
        sample(&text, "codex_mcp_server_up", &[("server", "faulty")]),
        Some(1.0),
        "{text}"
    );
    app.state.plugins.shutdown().await;
}
