//! The listings and analytics across sessions: `/api/executions`, `/api/analytics`,
//! `/api/sessions`, `/api/sessions/{id}/events` and the original frontend's `/analytics`.

use axum::http::StatusCode;
use codex_store::{NewEvent, Role};
use serde_json::{Value, json};

use crate::app::TestApp;

async fn run(app: &TestApp, session: &str, plugin: &str, data: Value) {
    let reply = app
        .post(
            "/api/plugins/execute",
            json!({"plugin": plugin, "data": data, "session_id": session}),
        )
        .await;
    assert!(
        reply.body["execution_id"].is_string() || reply.body["error"]["execution_id"].is_string(),
        "{}",
        reply.body
    );
}

async fn say(app: &TestApp, session: &str, text: &str) {
    app.store
        .append_one(NewEvent::message(session, Role::User, text))
        .await
        .unwrap();
}

/// Walks every page of `path` (which ends in a query string) and answers the items of `field`.
async fn all_pages(app: &TestApp, path: &str, field: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = String::new();
    loop {
        let reply = app.get(&format!("{path}{next}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}{next}: {}", reply.body);
        items.extend(reply.body[field].as_array().unwrap().iter().cloned());
        match reply.body["next_before"].as_str() {
            Some(cursor) => next = format!("&before={cursor}"),
            None => break,
        }
    }
    items
}

/// `path` lists these (plugin, session, status) executions, newest first, in pages of one.
async fn check_executions(app: &TestApp, path: &str, want: &[(&str, &str, &str)]) {
    let got = all_pages(app, &format!("{path}limit=1"), "executions").await;
    let got: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|e| {
            (
                e["plugin"].as_str().unwrap(),
                e["session_id"].as_str().unwrap(),
                e["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want, "{path}");
}

#[tokio::test]
async fn executions_are_listed_across_sessions_newest_first() {
    let app = TestApp::new().await;
    run(&app, "s1", "echo", json!("one")).await;
    run(&app, "s2", "calculator", json!("1/")).await;
    run(&app, "s1", "failing", json!(null)).await;
    run(&app, "s2", "echo", json!("two")).await;

    let reply = app.get("/api/executions").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let newest = &reply.body["executions"][0];
    for field in ["id", "seq", "timestamp", "input", "output", "duration_ms"] {
        assert!(newest.get(field).is_some(), "{field} in {newest}");
    }
    assert_eq!(newest["session_id"], "s2");
    assert_eq!(newest["plugin"], "echo");
    assert_eq!(newest["input"], "two");
    assert_eq!(newest["source"], "api");
    assert_eq!(reply.body["next_before"], Value::Null);

    check_executions(
        &app,
        "/api/executions?",
        &[
            ("echo", "s2", "ok"),
            ("failing", "s1", "failed"),
            ("calculator", "s2", "invalid_input"),
            ("echo", "s1", "ok"),
        ],
    )
    .await;
    check_executions(
        &app,
        "/api/executions?plugin=echo&",
        &[("echo", "s2", "ok"), ("echo", "s1", "ok")],
    )
    .await;
    check_executions(
        &app,
        "/api/executions?status=invalid_input&",
        &[("calculator", "s2", "invalid_input")],
    )
    .await;
    check_executions(
        &app,
        "/api/executions?session_id=s1&source=api&",
        &[("failing", "s1", "failed"), ("echo", "s1", "ok")],
    )
    .await;
    check_executions(&app, "/api/executions?source=mcp&", &[]).await;
    check_executions(
        &app,
        "/api/executions?since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z&",
        &[],
    )
    .await;
}

#[tokio::test]
async fn bad_listing_parameters_are_invalid_requests() {
    let app = TestApp::new().await;
    for path in [
        "/api/executions?source=fax",
        "/api/executions?limit=0",
        "/api/executions?limit=10001",
        "/api/executions?before=nonsense",
        "/api/executions?plugin=",
        "/api/executions?since=yesterday",
        "/api/executions?colour=blue",
        "/api/sessions?before=x1.2.3",
        "/api/sessions?limit=many",
        "/api/sessions/s/events?kinds=message,gossip",
        "/api/sessions/s/events?kinds=",
        "/api/sessions/s/events?after=soon",
        "/api/analytics?bucket=week",
        "/api/analytics?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        "/api/analytics?since=1990-01-01T00:00:00Z",
        "/analytics?days=0",
        "/analytics?days=367",
        "/analytics?days=ten",
    ] {
        app.get(path)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn analytics_count_the_calls_just_made() {
    let app = TestApp::new().await;
    for _ in 0..3 {
        run(&app, "a", "echo", json!("x")).await;
    }
    run(&app, "b", "calculator", json!("1/")).await;

    let reply = app.get("/api/analytics").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["bucket"], "hour");
    assert_eq!(body["totals"], json!({"calls": 4, "errors": 1}));
    let plugins = body["plugins"].as_array().unwrap();
    assert_eq!(plugins[0]["plugin"], "echo");
    assert_eq!(plugins[0]["calls"], 3);
    assert_eq!(plugins[0]["error_rate"], 0.0);
    assert_eq!(plugins[1]["plugin"], "calculator");
    assert_eq!(plugins[1]["error_rate"], 1.0);
    for field in ["p50_ms", "p95_ms", "p99_ms"] {
        assert!(plugins[0][field].is_number(), "{field}");
    }
    // The last 24 hours, widened to whole hours.
    let series = body["series"].as_array().unwrap();
    assert!((24..=25).contains(&series.len()), "{}", series.len());
    assert_eq!(series.last().unwrap()["calls"], 4);
    assert_eq!(series[0]["p50_ms"], Value::Null);
    let sources: Vec<(&str, u64)> = body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["source"].as_str().unwrap(), s["calls"].as_u64().unwrap()))
        .collect();
    assert_eq!(sources, [("api", 4), ("cli", 0), ("chat", 0), ("mcp", 0)]);

    let by_day = app.get("/api/analytics?bucket=day").await;
    assert_eq!(by_day.status, StatusCode::OK, "{}", by_day.body);
    assert_eq!(by_day.body["bucket"], "day");
    let days = by_day.body["series"].as_array().unwrap();
    assert!((1..=2).contains(&days.len()));
    assert!(
        by_day.body["since"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );
    assert_eq!(by_day.body["totals"]["calls"], 4);

    let past = app
        .get("/api/analytics?since=2020-01-01T10:30:00Z&until=2020-01-01T12:00:00Z")
        .await;
    assert_eq!(past.body["since"], "2020-01-01T10:00:00Z");
    assert_eq!(past.body["totals"]["calls"], 0);
    assert_eq!(past.body["series"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_original_analytics_page_gets_its_shape() {
    let app = TestApp::new().await;
    say(&app, "older", "first question").await;
    say(&app, "newer", "second question").await;
    run(&app, "newer", "echo", json!("x")).await;
    run(&app, "newer", "echo", json!("y")).await;

    let reply = app.get("/analytics?days=7").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    let daily = body["daily_conversations"].as_object().unwrap();
    assert_eq!(daily.len(), 7);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(daily[&today], 2);
    assert_eq!(daily.values().filter(|n| **n == 0).count(), 6);
    // Plugin calls per plugin; loaded plugins nobody called count 0.
    assert_eq!(body["model_usage"]["echo"], 2);
    assert_eq!(body["model_usage"]["calculator"], 0);
    let recent = body["recent_conversations"].as_array().unwrap();
    let ids: Vec<&str> = recent
        .iter()
        .map(|c| c["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["newer", "older"]);
    assert_eq!(recent[0]["message_count"], 1);
    assert_eq!(recent[0]["title"], "second question");
    assert!(recent[0]["timestamp"].is_string());

    let default = app.get("/analytics").await;
    assert_eq!(default.body["days"], 7);
}

#[tokio::test]
async fn sessions_are_paged_and_searched_with_titles() {
    let app = TestApp::new().await;
    for (session, text) in [
        ("alpha", "How do I read TOML?"),
        ("beta", "weather tomorrow"),
        ("gamma", "toml again"),
    ] {
        say(&app, session, text).await;
    }
    let all = all_pages(&app, "/api/sessions?limit=2", "sessions").await;
    let ids: Vec<&str> = all.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["gamma", "beta", "alpha"]);
    assert_eq!(all[2]["title"], "How do I read TOML?");
    for field in ["created_at", "last_activity", "message_count"] {
        assert!(all[0].get(field).is_some(), "{field}");
    }
    let found = all_pages(&app, "/api/sessions?q=toml", "sessions").await;
    let ids: Vec<&str> = found.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["gamma", "alpha"]);
}

#[tokio::test]
async fn a_session_timeline_is_paged_by_kind() {
    let app = TestApp::new().await;
    for i in 0..3 {
        say(&app, "t", &format!("question {i}")).await;
        run(&app, "t", "echo", json!(i)).await;
    }
    let reply = app
        .get("/api/sessions/t/events?kinds=plugin_execution&limit=2")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["session_id"], "t");
    let seqs: Vec<u64> = reply.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "plugin_execution");
            e["seq"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(seqs, [2, 4]);
    assert_eq!(reply.body["next_after"], 4);
    let rest = app
        .get("/api/sessions/t/events?kinds=plugin_execution&after=4")
        .await;
    assert_eq!(rest.body["events"][0]["seq"], 6);
    assert_eq!(rest.body["next_after"], Value::Null);

    let both = app
        .get("/api/sessions/t/events?kinds=message,%20plugin_execution")
        .await;
    assert_eq!(both.body["events"].as_array().unwrap().len(), 6);
    let all = app.get("/api/sessions/t/events").await;
    assert_eq!(all.body["events"].as_array().unwrap().len(), 6);
    assert_eq!(all.body["events"][0]["payload"]["content"], "question 0");
}
