//! People stay in control of what a model runs: plugin policies (`allow`, `ask`, `deny`),
//! approval modes per turn, the `approval_required` stream event, `/api/approvals`, the
//! deadline, "for the rest of this session", and the `approval` audit events.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::cancel::{executions, stream_request};
use crate::scripted::{Answer, ScriptedModel};

/// The kinds of a session's audit events, with each approval event's state.
async fn audit_steps(app: &TestApp, session: &str) -> Vec<String> {
    let audit = app.get(&format!("/memory/audit/{session}")).await;
    audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["kind"].as_str().unwrap() {
            "approval" => format!("approval:{}", e["payload"]["state"].as_str().unwrap()),
            kind => kind.to_owned(),
        })
        .collect()
}

async fn set_policy(app: &TestApp, plugin: &str, policy: Value) -> Value {
    let reply = app
        .post(
            &format!("/api/plugins/{plugin}/policy"),
            json!({ "policy": policy }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

fn echo_then(text: &'static str) -> Vec<Answer> {
    vec![
        Answer::Tools(vec![("echo", json!({"text": "hi"}))]),
        Answer::Text(vec![text]),
    ]
}

#[tokio::test]
async fn a_call_to_an_ask_plugin_waits_for_an_approval_and_then_runs() {
    let model = ScriptedModel::start(echo_then("done")).await;
    let app = TestApp::with_model(model.config()).await;
    let view = set_policy(&app, "echo", json!("ask")).await;
    assert_eq!(view["policy"], "ask");
    assert_eq!(view["read_only"], true);

    let mut events = stream_request(&app, json!({"message": "say hi", "session_id": "a1"})).await;
    let call = events.until("tool_call").await;
    let asked = events.until("approval_required").await;
    assert_eq!(asked["plugin"], "echo");
    assert_eq!(asked["id"], call["id"]);
    assert_eq!(asked["arguments"], json!({"text": "hi"}));
    let approval_id = asked["approval_id"].as_str().unwrap().to_owned();
    // Nothing ran yet, and the question is listed.
    assert!(executions(&app, "a1").await.is_empty());
    let pending = app.get("/api/approvals").await;
    assert_eq!(pending.body["approvals"][0]["id"], approval_id.as_str());
    assert_eq!(pending.body["approvals"][0]["session_id"], "a1");

    let answered = app
        .post(
            &format!("/api/approvals/{approval_id}"),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    assert_eq!(answered.body["decision"], "approve");
    let result = events.until("tool_result").await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(events.until("done").await["reply"], "done");
    assert_eq!(app.get("/api/approvals").await.body["approvals"], json!([]));
    // Answered once: a second answer finds nothing.
    app.post(
        &format!("/api/approvals/{approval_id}"),
        json!({"decision": "deny"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        audit_steps(&app, "a1").await,
        [
            "message",
            "tool_call",
            "approval:requested",
            "approval:approved",
            "plugin_execution",
            "tool_result",
            "message"
        ]
    );
}

#[tokio::test]
async fn a_denial_goes_back_to_the_model_and_can_hold_for_the_session() {
    let model = ScriptedModel::start(vec![
        Answer::Tools(vec![("echo", json!({"text": "one"}))]),
        Answer::Tools(vec![("echo", json!({"text": "two"}))]),
        Answer::Text(vec!["gave up"]),
    ])
    .await;
    let app = TestApp::with_model(model.config()).await;
    set_policy(&app, "echo", json!("ask")).await;
    let mut events = stream_request(&app, json!({"message": "try", "session_id": "d1"})).await;
    let asked = events.until("approval_required").await;
    let approval_id = asked["approval_id"].as_str().unwrap();
    let answered = app
        .post(
            &format!("/api/approvals/{approval_id}"),
            json!({"decision": "deny", "remember": true}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    let first = events.until("tool_result").await;
    assert_eq!(first["ok"], false);
    assert!(
        first["error"].as_str().unwrap().contains("denied"),
        "{first}"
    );
    // The second call is refused without asking: the next event after its call is its result.
    events.until("tool_call").await;
    let (name, second) = events.next().await.unwrap();
    assert_eq!(name, "tool_result", "{second}");
    assert!(
        second["error"]
            .as_str()
            .unwrap()
            .contains("rest of this session"),
        "{second}"
    );
    assert_eq!(events.until("done").await["reply"], "gave up");
    // The model read each refusal as the tool's result, and nothing ran.
    let requests = model.requests();
    assert!(
        requests[1].to_string().contains("denied"),
        "{}",
        requests[1]
    );
    assert!(executions(&app, "d1").await.is_empty());
    let steps = audit_steps(&app, "d1").await;
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.starts_with("approval:"))
            .collect::<Vec<_>>(),
        ["approval:requested", "approval:denied"]
    );
}

#[tokio::test]
async fn no_answer_by_the_deadline_is_a_denial() {
    let model = ScriptedModel::start(echo_then("ok then")).await;
    let mut config = model.config();
    config.approval_timeout_ms = 300;
    let app = TestApp::with_model(config).await;
    set_policy(&app, "echo", json!("ask")).await;
    let mut events = stream_request(&app, json!({"message": "go", "session_id": "e1"})).await;
    events.until("approval_required").await;
    let result = events.until("tool_result").await;
    assert_eq!(result["ok"], false);
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("nobody approved"),
        "{result}"
    );
    events.until("done").await;
    assert!(
        audit_steps(&app, "e1")
            .await
            .contains(&"approval:expired".to_owned())
    );
    assert!(executions(&app, "e1").await.is_empty());
}

#[tokio::test]
async fn a_turns_mode_asks_for_every_call_or_for_calls_that_act() {
    // `approve`: even a read-only plugin whose policy is allow waits.
    let model = ScriptedModel::start(echo_then("approved")).await;
    let app = TestApp::with_model(model.config()).await;
    let mut events = stream_request(
        &app,
        json!({"message": "go", "session_id": "m1", "approval": "approve"}),
    )
    .await;
    let asked = events.until("approval_required").await;
    app.post(
        &format!("/api/approvals/{}", asked["approval_id"].as_str().unwrap()),
        json!({"decision": "approve"}),
    )
    .await;
    assert_eq!(events.until("tool_result").await["ok"], true);
    events.until("done").await;

    // `smart`: echo only reads, so it runs; `slow` acts, so it waits.
    let model = ScriptedModel::start(vec![
        Answer::Tools(vec![("echo", json!({"text": "hi"}))]),
        Answer::Tools(vec![("slow", json!("0"))]),
        Answer::Text(vec!["smart"]),
    ])
    .await;
    let app = TestApp::with_model(model.config()).await;
    let mut events = stream_request(
        &app,
        json!({"message": "go", "session_id": "m2", "approval": "smart"}),
    )
    .await;
    events.until("tool_call").await;
    let (name, echo) = events.next().await.unwrap();
    assert_eq!(name, "tool_result", "echo is not asked about: {echo}");
    let call = events.until("tool_call").await;
    assert_eq!(call["plugin"], "slow");
    let asked = events.until("approval_required").await;
    assert_eq!(asked["plugin"], "slow");
    app.post(
        &format!("/api/approvals/{}", asked["approval_id"].as_str().unwrap()),
        json!({"decision": "deny"}),
    )
    .await;
    assert_eq!(events.until("tool_result").await["ok"], false);
    events.until("done").await;

    // A mode that is not one is refused before the turn starts.
    app.post("/chat", json!({"message": "hi", "approval": "sometimes"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn deny_refuses_everywhere_and_ask_does_not_stop_a_persons_own_call() {
    let app = TestApp::new().await;
    set_policy(&app, "echo", json!("ask")).await;
    // A person's direct call and `/run` need no one else's answer.
    assert_eq!(
        app.execute("echo", json!("hi")).await.status,
        StatusCode::OK
    );
    let run = app.post("/chat", json!({"message": "/run echo hi"})).await;
    assert_eq!(run.body["steps"][1]["ok"], true, "{}", run.body);

    set_policy(&app, "echo", json!("deny")).await;
    app.execute("echo", json!("hi"))
        .await
        .assert_error(StatusCode::FORBIDDEN, "plugin_denied");
    let run = app.post("/chat", json!({"message": "/run echo hi"})).await;
    assert_eq!(run.body["steps"][1]["ok"], false, "{}", run.body);
    let listed = app.get("/api/plugins/echo").await;
    assert_eq!(listed.body["policy"], "deny");

    // Cleared, the plugin is back to its configuration (allow).
    let view = set_policy(&app, "echo", Value::Null).await;
    assert_eq!(view["policy"], "allow");
    assert_eq!(
        app.execute("echo", json!("hi")).await.status,
        StatusCode::OK
    );
    app.post("/api/plugins/echo/policy", json!({"policy": "maybe"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn on_v1_a_call_that_needs_approval_goes_to_the_client_and_runs_when_sent_back() {
    let model = ScriptedModel::start(vec![
        Answer::Tools(vec![("echo", json!({"text": "hi"}))]),
        Answer::Text(vec!["done"]),
        Answer::Tools(vec![("echo", json!({"text": "again"}))]),
        Answer::Text(vec!["as you wish"]),
    ])
    .await;
    let app = TestApp::with_model(model.config()).await;
    set_policy(&app, "echo", json!("ask")).await;
    let question = json!({"role": "user", "content": "say hi"});
    let asked = app
        .post(
            "/v1/chat/completions",
            json!({"messages": [question], "user": "v1a"}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    let choice = &asked.body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{}", asked.body);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "echo");
    // Handed to the client: nothing ran, and nothing waits here.
    assert!(executions(&app, "v1a").await.is_empty());
    assert_eq!(app.get("/api/approvals").await.body["approvals"], json!([]));

    // The client's user approved: the client sends the call back without a result.
    let approved = app
        .post(
            "/v1/chat/completions",
            json!({"messages": [question, choice["message"]], "user": "v1a"}),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["choices"][0]["message"]["content"], "done");
    assert_eq!(executions(&app, "v1a").await.len(), 1);
    // The model read the plugin's result for its call.
    let requests = model.requests();
    let result = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("a tool result")
        .clone();
    assert_eq!(result["tool_call_id"], call["id"]);
    assert!(
        result["content"].as_str().unwrap().contains("hi"),
        "{result}"
    );

    // Denied: the client answers the call itself, and that answer is the model's result.
    let asked = app
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "again"}], "user": "v1a"}),
        )
        .await;
    let message = asked.body["choices"][0]["message"].clone();
    let call_id = message["tool_calls"][0]["id"].clone();
    let denied = app
        .post(
            "/v1/chat/completions",
            json!({"messages": [
                {"role": "user", "content": "again"},
                message,
                {"role": "tool", "tool_call_id": call_id, "content": "The user declined to run this tool."},
            ], "user": "v1a"}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.body);
    assert_eq!(
        denied.body["choices"][0]["message"]["content"],
        "as you wish"
    );
    assert_eq!(
        executions(&app, "v1a").await.len(),
        1,
        "the denied call never ran"
    );
    let steps = audit_steps(&app, "v1a").await;
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.starts_with("approval:"))
            .collect::<Vec<_>>(),
        [
            "approval:requested",
            "approval:approved",
            "approval:requested",
            "approval:denied"
        ],
        "{steps:?}"
    );
    // The request and its answer share one approval id.
    let audit = app.get("/memory/audit/v1a").await;
    let ids: Vec<&Value> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "approval")
        .map(|e| &e["payload"]["approval_id"])
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
}
