//! Progress over HTTP and MCP: a plugin's reports as `progress` events of `/chat/stream`
//! and of a streamed execute, as `notifications/progress` to an MCP client that sent a
//! progress token, and the last message kept on the execution's audit event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use codex_agent::test_support::sse_events;
use rmcp::model::{
    CallToolRequestParams, NumberOrString, ProgressNotificationParam, ProgressToken,
    RequestParamsMeta,
};
use rmcp::service::NotificationContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::TestApp;
use crate::scripted::{Answer, ScriptedModel};

fn fractions(events: &[(String, Value)]) -> Vec<(f64, String)> {
    events
        .iter()
        .filter(|(name, _)| name == "progress")
        .map(|(_, data)| {
            (
                data["fraction"].as_f64().unwrap(),
                data["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn three_steps() -> Vec<(f64, String)> {
    (1..=3)
        .map(|step| (f64::from(step) / 3.0, format!("step {step} of 3")))
        .collect()
}

#[tokio::test]
async fn a_streamed_execute_sends_progress_then_the_result() {
    let app = TestApp::new().await;
    let reply = app
        .send_with(
            Method::POST,
            "/api/plugins/execute",
            Body::from(json!({"plugin": "progress", "data": {}, "session_id": "p1"}).to_string()),
            &[("accept", "text/event-stream")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let events = sse_events(reply.body.as_str().expect("an event stream"));
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["started", "progress", "progress", "progress", "result"],
        "{}",
        reply.body
    );
    assert_eq!(fractions(&events), three_steps());
    let result = &events[4].1;
    assert_eq!(result["result"], json!({"steps": 3}));
    assert_eq!(result["run_id"], events[0].1["run_id"]);
    // The audit keeps the last message only.
    let audit = app.get("/memory/audit/p1").await;
    let execution = &audit.body["events"][0]["payload"];
    assert_eq!(execution["progress"], "step 3 of 3", "{}", audit.body);

    // A failure ends the stream with `error`.
    let reply = app
        .send_with(
            Method::POST,
            "/api/plugins/execute",
            Body::from(json!({"plugin": "nope"}).to_string()),
            &[("accept", "text/event-stream")],
        )
        .await;
    let events = sse_events(reply.body.as_str().unwrap());
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["code"], "plugin_not_found");
}

#[tokio::test]
async fn chat_streams_a_tool_calls_progress() {
    let model = ScriptedModel::start(vec![
        Answer::Tools(vec![("progress", json!({}))]),
        Answer::Text(vec!["Done."]),
    ])
    .await;
    let app = TestApp::with_model(model.config()).await;
    let reply = app
        .post("/chat/stream", json!({"message": "go", "session_id": "p2"}))
        .await;
    let events = sse_events(reply.body.as_str().expect("an event stream"));
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "turn",
            "tool_call",
            "progress",
            "progress",
            "progress",
            "tool_result",
            "delta",
            "done"
        ],
        "{}",
        reply.body
    );
    assert_eq!(fractions(&events), three_steps());
    let call = &events[1].1;
    assert_eq!(events[2].1["id"], call["id"]);
    assert_eq!(events[2].1["run_id"], call["run_id"]);
    assert_eq!(events[2].1["plugin"], "progress");
}

/// An MCP client that records the progress notifications it gets.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ProgressNotificationParam>>>);

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(params);
    }
}

#[tokio::test]
async fn an_mcp_client_with_a_progress_token_gets_notifications_progress() {
    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(codex_server::serve(
        listener,
        app.state.clone(),
        stop.clone().cancelled_owned(),
    ));
    let recorder = Recorder::default();
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{address}/mcp"));
    let client = tokio::time::timeout(Duration::from_secs(20), recorder.clone().serve(transport))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let mut params = CallToolRequestParams::new("progress");
    params.set_progress_token(ProgressToken(NumberOrString::Number(7)));
    let result = tokio::time::timeout(Duration::from_secs(20), client.peer().call_tool(params))
        .await
        .expect("the call answered in time")
        .expect("the call");
    assert_eq!(result.structured_content, Some(json!({"steps": 3})));
    // The notifications went out before the result; the handler may still be on them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while recorder.0.lock().unwrap().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing notifications"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let received = recorder.0.lock().unwrap().clone();
    // rmcp's client puts a token of its own on the wire; every report carries that one.
    assert!(
        received
            .iter()
            .all(|p| p.progress_token == received[0].progress_token),
        "{received:?}"
    );
    let got: Vec<(f64, Option<f64>, Option<String>)> = received
        .iter()
        .map(|p| (p.progress, p.total, p.message.clone()))
        .collect();
    let expected: Vec<(f64, Option<f64>, Option<String>)> = three_steps()
        .into_iter()
        .map(|(fraction, message)| (fraction, Some(1.0), Some(message)))
        .collect();
    assert_eq!(got, expected);
    client.cancel().await.unwrap();
    stop.cancel();
    server.await.unwrap().unwrap();
}
