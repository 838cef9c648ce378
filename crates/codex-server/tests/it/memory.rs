//! Memory, audit, sessions and plugin logs: every execution is logged and shows up in the
//! session's timeline; resets hide from memory but not from the audit; purges remove.

use axum::http::StatusCode;
use codex_store::{NewEvent, Role};
use serde_json::{Value, json};

use crate::app::{SHORT_LIMIT, TestApp};

async fn execute_in(app: &TestApp, session: &str, plugin: &str, data: Value) -> Value {
    app.post(
        "/api/plugins/execute",
        json!({"plugin": plugin, "data": data, "session_id": session}),
    )
    .await
    .body
}

async fn say(app: &TestApp, session: &str, role: Role, text: &str) {
    app.store
        .append_one(NewEvent::message(session, role, text))
        .await
        .unwrap();
}

fn contents(messages: &Value) -> Vec<&str> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_execution_is_logged_under_its_id() {
    let app = TestApp::new().await;
    let reply = execute_in(&app, "s1", "echo", json!("hello")).await;
    let id = reply["execution_id"].as_str().unwrap();

    let logs = app.get("/plugin-logs/s1").await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.body);
    let log = &logs.body["logs"][0];
    assert_eq!(log["id"], id);
    assert_eq!(log["seq"], 1);
    assert_eq!(log["plugin"], "echo");
    assert_eq!(log["input"], "hello");
    assert_eq!(log["output"], json!({"echo": "hello"}));
    assert_eq!(log["status"], "ok");
    assert_eq!(log["source"], "api");
    assert!(log["timestamp"].as_str().is_some());
    assert_eq!(logs.body["next_after"], Value::Null);

    let audit = app.get("/memory/audit/s1").await;
    assert_eq!(audit.status, StatusCode::OK);
    let event = &audit.body["events"][0];
    assert_eq!(event["id"], id);
    assert_eq!(event["kind"], "plugin_execution");
    assert_eq!(event["payload"]["plugin"], "echo");
    assert_eq!(audit.body["counts"], json!({"short": 0, "full": 0}));
}

#[tokio::test]
async fn the_original_execute_path_logs_too() {
    let app = TestApp::new().await;
    let reply = app
        .post("/plugins/execute", json!({"plugin": "test", "data": "x"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let logs = app.get("/plugin-logs/default").await;
    assert_eq!(logs.body["logs"][0]["id"], reply.body["execution_id"]);
    assert_eq!(logs.body["logs"][0]["plugin"], "echo");
}

#[tokio::test]
async fn failed_executions_are_logged_with_their_code() {
    let app = TestApp::new().await;
    for (plugin, data, status) in [
        ("calculator", json!("1/"), "invalid_input"),
        ("failing", json!(null), "plugin_failed"),
        ("slow", json!(1000), "plugin_timeout"),
        ("nonexistent", json!(null), "plugin_not_found"),
    ] {
        let reply = execute_in(&app, "errs", plugin, data).await;
        assert!(reply["error"]["code"].is_string(), "{reply}");
        let logs = app.get("/plugin-logs/errs").await.body;
        let last = logs["logs"].as_array().unwrap().last().unwrap().clone();
        // The error answer names the event that logged the failure.
        assert_eq!(reply["error"]["execution_id"], last["id"], "{reply}");
        assert_eq!(last["plugin"], plugin);
        assert_eq!(last["status"], status, "{last}");
        // One vocabulary: the log's status is the code the caller was answered with.
        assert_eq!(reply["error"]["code"], status, "{reply}");
        assert!(last["error"].is_string());
        assert_eq!(last["output"], Value::Null);
    }
    // The failing plugin's internal detail stays in the log, not in the response.
    let logs = app.get("/plugin-logs/errs").await.body;
    assert_eq!(logs["logs"][1]["error"], "secret internal detail");
}

#[tokio::test]
async fn a_reset_empties_short_memory_but_the_audit_keeps_everything() {
    let app = TestApp::new().await;
    for text in ["a", "b", "c", "d"] {
        say(&app, "r", Role::User, text).await;
    }
    let memory = app.get("/memory?session_id=r").await;
    assert_eq!(memory.status, StatusCode::OK, "{}", memory.body);
    assert_eq!(memory.body["mode"], "short");
    assert_eq!(contents(&memory.body["messages"]).len(), SHORT_LIMIT);
    assert_eq!(contents(&memory.body["messages"]), ["b", "c", "d"]);
    assert_eq!(memory.body["counts"], json!({"short": 3, "full": 4}));
    let long = app.get("/memory?session_id=r&mode=long").await;
    assert_eq!(contents(&long.body["messages"]), ["a", "b", "c", "d"]);

    let reset = app.delete("/memory?session_id=r").await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(reset.body["seq"], 5);
    let memory = app.get("/memory?session_id=r").await;
    assert!(contents(&memory.body["messages"]).is_empty());
    assert_eq!(memory.body["counts"], json!({"short": 0, "full": 4}));
    say(&app, "r", Role::Assistant, "e").await;
    let memory = app.get("/memory?session_id=r&mode=short").await;
    assert_eq!(contents(&memory.body["messages"]), ["e"]);
    assert_eq!(memory.body["messages"][0]["role"], "assistant");

    let audit = app.get("/memory/audit/r").await.body;
    let kinds: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "message", "message", "message", "message", "reset", "message"
        ]
    );
    assert_eq!(audit["counts"], json!({"short": 1, "full": 5}));
}

#[tokio::test]
async fn memory_defaults_to_the_default_session() {
    let app = TestApp::new().await;
    say(&app, "default", Role::User, "hi").await;
    let memory = app.get("/memory").await;
    assert_eq!(memory.body["session_id"], "default");
    assert_eq!(contents(&memory.body["messages"]), ["hi"]);
    app.delete("/memory").await;
    assert!(
        contents(&app.get("/memory").await.body["messages"]).is_empty(),
        "the default session was not reset"
    );
}

#[tokio::test]
async fn a_purge_removes_the_session_for_good() {
    let app = TestApp::new().await;
    say(&app, "gone", Role::User, "bye").await;
    execute_in(&app, "gone", "echo", json!("x")).await;
    execute_in(&app, "kept", "echo", json!("y")).await;
    let sessions = app.get("/api/sessions").await;
    assert_eq!(sessions.status, StatusCode::OK);
    let listed: Vec<&str> = sessions.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["kept", "gone"]);
    let gone = &sessions.body["sessions"][1];
    assert_eq!(gone["message_count"], 1);
    assert!(gone["created_at"].is_string() && gone["last_activity"].is_string());

    let purge = app.delete("/sessions/gone").await;
    assert_eq!(purge.status, StatusCode::OK);
    assert_eq!(purge.body["deleted_events"], 2);
    assert!(
        app.get("/memory/audit/gone").await.body["events"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let sessions = app.get("/api/sessions").await.body;
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(app.delete("/sessions/gone").await.body["deleted_events"], 0);
}

#[tokio::test]
async fn audit_and_logs_are_paginated() {
    let app = TestApp::new().await;
    for i in 0..7 {
        execute_in(&app, "p", "echo", json!(i)).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let path = match after {
            Some(after) => format!("/memory/audit/p?limit=3&after={after}"),
            None => "/memory/audit/p?limit=3".to_owned(),
        };
        let page = app.get(&path).await.body;
        for event in page["events"].as_array().unwrap() {
            seen.push(event["seq"].as_i64().unwrap());
        }
        match page["next_after"].as_i64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (1..=7).collect::<Vec<_>>());
    let logs = app.get("/plugin-logs/p?after=5&limit=10").await.body;
    let inputs: Vec<&Value> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["input"])
        .collect();
    assert_eq!(inputs, [&json!(5), &json!(6)]);
    assert_eq!(logs["next_after"], Value::Null);
}

#[tokio::test]
async fn an_unknown_session_is_empty_not_an_error() {
    let app = TestApp::new().await;
    for path in [
        "/memory?session_id=nobody",
        "/memory/audit/nobody",
        "/plugin-logs/nobody",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    }
    let audit = app.get("/memory/audit/nobody").await.body;
    assert_eq!(
        audit,
        json!({"session_id": "nobody", "events": [], "next_after": null,
               "counts": {"short": 0, "full": 0},
               "short": [], "full": [], "count": {"short": 0, "full": 0}})
    );
    assert_eq!(app.get("/sessions").await.body, json!({"sessions": []}));
}

// Regression: resetting the memory of a session nobody used created the session (holding
// only its reset), so it showed up in `/sessions` and the audit.
#[tokio::test]
async fn resetting_an_unknown_session_does_not_create_it() {
    let app = TestApp::new().await;
    let reset = app.delete("/memory?session_id=nobody").await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(
        reset.body,
        json!({"session_id": "nobody", "seq": null, "timestamp": null,
               "message": "session 'nobody' has no memory to reset"})
    );
    assert_eq!(app.get("/sessions").await.body, json!({"sessions": []}));
    assert_eq!(
        app.get("/memory/audit/nobody").await.body["events"],
        json!([])
    );
}

#[tokio::test]
async fn bad_query_parameters_are_invalid_requests() {
    let app = TestApp::new().await;
    for path in [
        "/memory?mode=sideways",
        "/memory?session_id=",
        "/memory?sesion_id=x",
        "/memory/audit/s?after=soon",
        "/memory/audit/s?limit=0",
        "/plugin-logs/s?limit=-1",
        "/plugin-logs/s?limit=10001",
    ] {
        app.get(path)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    app.post(
        "/api/plugins/execute",
        json!({"plugin": "echo", "data": "x", "session_id": ""}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_closed_store_is_unavailable_and_withholds_results() {
    let app = TestApp::new().await;
    app.store.close().await;
    let reply = app.execute("echo", json!("x")).await;
    reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable");
    assert!(
        !reply.body.to_string().contains("echo\":"),
        "{}",
        reply.body
    );
    app.get("/sessions")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable");
}

#[tokio::test]
async fn the_memory_plugins_see_stored_messages() {
    let app = TestApp::new().await;
    for text in ["one", "two", "three", "four"] {
        say(&app, "m", Role::User, text).await;
    }
    app.delete("/memory?session_id=m").await;
    say(&app, "m", Role::Assistant, "five").await;

    let memory = execute_in(&app, "m", "memory", json!({})).await;
    assert_eq!(memory["result"]["count"], 1, "{memory}");
    assert_eq!(contents(&memory["result"]["messages"]), ["five"]);

    let inspect = execute_in(&app, "other", "memory_inspect", json!("m")).await;
    let result = &inspect["result"];
    assert_eq!(result["session_id"], "m");
    assert_eq!(contents(&result["short"]), ["five"]);
    assert_eq!(
        contents(&result["full"]),
        ["one", "two", "three", "four", "[memory reset]", "five"]
    );
    assert_eq!(result["full"][4]["role"], "system");
    assert_eq!(result["counts"], json!({"short": 1, "full": 6}));
}
