//! Cancellation over HTTP: a running execution by its run id, a running turn by its id, and
//! a client closing the stream; each reaches the plugin's token and leaves its audit event.

use std::time::Duration;

use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::scripted::{Answer, ScriptedModel};

/// Bounds every wait of these tests.
const LIMIT: Duration = Duration::from_secs(20);

/// The session's `plugin_execution` payloads, oldest first.
pub(crate) async fn executions(app: &TestApp, session: &str) -> Vec<Value> {
    let audit = app.get(&format!("/memory/audit/{session}")).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "plugin_execution")
        .map(|e| e["payload"].clone())
        .collect()
}

/// Reads server-sent events off a streaming body, one at a time.
pub(crate) struct Events {
    body: axum::body::Body,
    buffer: String,
}

impl Events {
    /// The next event's name and data; `None` at the end of the stream.
    pub(crate) async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(rest) = line.strip_prefix("event:") {
                        name = rest.trim().to_owned();
                    } else if let Some(rest) = line.strip_prefix("data:") {
                        data.push_str(rest.trim());
                    }
                }
                if name.is_empty() {
                    continue; // A keep-alive comment.
                }
                return Some((name, serde_json::from_str(&data).unwrap()));
            }
            let frame = tokio::time::timeout(LIMIT, self.body.frame())
                .await
                .expect("the stream moved in time")?
                .expect("the body reads");
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// Skips to the event named `name`.
    pub(crate) async fn until(&mut self, name: &str) -> Value {
        loop {
            let (event, data) = self.next().await.expect("the stream has not ended");
            if event == name {
                return data;
            }
        }
    }
}

async fn stream(app: &TestApp, session: &str, message: &str) -> Events {
    stream_request(app, json!({"message": message, "session_id": session})).await
}

/// A `/chat/stream` turn of the request `body`, read event by event.
pub(crate) async fn stream_request(app: &TestApp, body: Value) -> Events {
    let response = app.open("/chat/stream", body).await;
    assert_eq!(response.status(), StatusCode::OK);
    Events {
        body: response.into_body(),
        buffer: String::new(),
    }
}

#[tokio::test]
async fn an_execution_is_cancelled_by_its_run_id() {
    let app = TestApp::new().await;
    let run_id = uuid::Uuid::now_v7().to_string();
    let call = {
        let body = json!({"plugin": "waiting", "data": {}, "session_id": "c1", "run_id": run_id});
        let app = &app;
        async move { app.post("/api/plugins/execute", body).await }
    };
    let cancel = async {
        assert_eq!(app.waiting_signal().await, "started");
        let running = app.get("/api/running").await;
        assert_eq!(
            running.body["runs"][0]["id"],
            run_id.as_str(),
            "{}",
            running.body
        );
        assert_eq!(running.body["runs"][0]["kind"], "execution");
        assert_eq!(running.body["runs"][0]["plugin"], "waiting");
        // A turn id does not cancel an execution.
        app.post(&format!("/api/turns/{run_id}/cancel"), json!({}))
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_running");
        let reply = app
            .post(&format!("/api/executions/{run_id}/cancel"), json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        assert_eq!(reply.body["run"]["id"], run_id.as_str());
    };
    let (reply, ()) = tokio::time::timeout(LIMIT, async { tokio::join!(call, cancel) })
        .await
        .expect("the cancelled call answered in time");
    reply.assert_error(StatusCode::from_u16(499).unwrap(), "cancelled");
    assert!(
        reply.body["error"]["execution_id"].is_string(),
        "{}",
        reply.body
    );
    // The plugin's own token fired.
    assert_eq!(app.waiting_signal().await, "cancelled");
    // The audit event says it was cancelled, and by whom.
    let logged = executions(&app, "c1").await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["status"], "cancelled");
    assert_eq!(
        logged[0]["error"],
        "the call was cancelled (cancelled by api)"
    );
    // Nothing runs any more.
    assert_eq!(app.get("/api/running").await.body["runs"], json!([]));
    app.post(&format!("/api/executions/{run_id}/cancel"), json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_running");
    app.post("/api/executions/not-a-uuid/cancel", json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_run_id_in_use_is_refused() {
    let app = TestApp::new().await;
    let run_id = uuid::Uuid::now_v7().to_string();
    let body = json!({"plugin": "waiting", "data": {}, "run_id": run_id});
    let first = app.post("/api/plugins/execute", body.clone());
    let second = async {
        assert_eq!(app.waiting_signal().await, "started");
        app.post("/api/plugins/execute", body.clone())
            .await
            .assert_error(StatusCode::CONFLICT, "run_id_in_use");
        app.post(&format!("/api/executions/{run_id}/cancel"), json!({}))
            .await;
    };
    let (first, ()) = tokio::time::timeout(LIMIT, async { tokio::join!(first, second) })
        .await
        .expect("in time");
    first.assert_error(StatusCode::from_u16(499).unwrap(), "cancelled");
}

#[tokio::test]
async fn a_turn_is_cancelled_by_its_id_and_its_tool_call_with_it() {
    let model = ScriptedModel::start(vec![
        Answer::Tools(vec![("waiting", json!({}))]),
        Answer::Text(vec!["never asked"]),
    ])
    .await;
    let app = TestApp::with_model(model.config()).await;
    let mut events = stream(&app, "t1", "wait for me").await;
    let turn = events.until("turn").await;
    let turn_id = turn["turn_id"].as_str().unwrap().to_owned();
    let call = events.until("tool_call").await;
    assert_eq!(call["plugin"], "waiting");
    assert_eq!(app.waiting_signal().await, "started");
    let reply = app
        .post(&format!("/api/turns/{turn_id}/cancel"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(reply.body["run"]["kind"], "turn");
    let result = events.until("tool_result").await;
    assert_eq!(result["ok"], false);
    assert_eq!(result["error"], "the call was cancelled");
    let error = events.until("error").await;
    assert_eq!(error["code"], "cancelled");
    assert!(
        events.next().await.is_none(),
        "the stream ends after its error"
    );
    assert_eq!(app.waiting_signal().await, "cancelled");
    // The model was not asked again, and every step is in the audit.
    assert_eq!(model.requests().len(), 1);
    let logged = executions(&app, "t1").await;
    assert_eq!(logged[0]["status"], "cancelled", "{logged:?}");
    let audit = app.get("/memory/audit/t1").await;
    let kinds: Vec<&str> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "message",
            "tool_call",
            "plugin_execution",
            "tool_result",
            "error"
        ],
        "{}",
        audit.body
    );
}

#[tokio::test]
async fn closing_the_stream_cancels_the_turn_and_its_end_is_logged() {
    let model = ScriptedModel::start(vec![Answer::Tools(vec![("waiting", json!({}))])]).await;
    let app = TestApp::with_model(model.config()).await;
    let mut events = stream(&app, "t2", "wait for me").await;
    events.until("tool_call").await;
    assert_eq!(app.waiting_signal().await, "started");
    drop(events);
    // The plugin's token fires once the client is gone.
    assert_eq!(app.waiting_signal().await, "cancelled");
    // The turn carries on to its cancelled end in the background and logs it.
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let audit = app.get("/memory/audit/t2").await;
        let last = audit.body["events"].as_array().unwrap().last().cloned();
        if let Some(last) = last
            && last["kind"] == "error"
        {
            assert_eq!(last["payload"]["code"], "cancelled", "{last}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cancelled turn was not logged: {}",
            audit.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(executions(&app, "t2").await[0]["status"], "cancelled");
    assert_eq!(app.get("/api/running").await.body["runs"], json!([]));
}
