//! The original project's HTTP contract (shared/origin/ORIGINAL_API.md), one test per row of
//! its table: the fields its frontend and scripts read, on the paths they call.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::TestApp;

#[tokio::test]
async fn health_has_status_and_server_time() {
    let app = TestApp::new().await;
    let reply = app.get("/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "ok");
    let time = reply.body["server_time"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
}

#[tokio::test]
async fn plugins_lists_names_that_execute_takes_back() {
    let app = TestApp::new().await;
    let reply = app.get("/plugins").await;
    assert_eq!(reply.status, StatusCode::OK);
    let names = reply.body["plugins"].as_array().unwrap();
    assert!(names.iter().all(Value::is_string), "{names:?}");
    assert!(names.contains(&json!("calculator")));
    // The frontend sends an item back unchanged as `plugin`, with string data.
    let item = names.iter().find(|n| *n == "calculator").unwrap().clone();
    let reply = app
        .post(
            "/plugins/execute",
            json!({"plugin": item, "data": "2*(3+4)", "session_id": "orig"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["result"]["result"], 14);
}

#[tokio::test]
async fn tools_have_a_top_level_name_and_description() {
    let app = TestApp::new().await;
    let reply = app.get("/tools").await;
    assert_eq!(reply.status, StatusCode::OK);
    let tools = reply.body["tools"].as_array().unwrap();
    assert!(!tools.is_empty());
    for tool in tools {
        assert!(tool["name"].is_string(), "{tool}");
        assert!(tool["description"].is_string(), "{tool}");
        assert_eq!(tool["name"], tool["function"]["name"], "{tool}");
    }
    assert!(tools.iter().any(|t| t["name"] == "calculator"));
}

#[tokio::test]
async fn chat_ignores_the_frontends_extra_fields_and_runs_plugins() {
    let app = TestApp::new().await;
    let body = json!({
        "session_id": "orig-chat",
        "message": "/run calculator 6*7",
        "model": "gpt-4o-mini",
        "metadata": {"source": "streamlit"},
        "api_key": "sk-ignored",
    });
    let reply = app.post("/chat", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["reply"].as_str().unwrap().contains("42"));
    let reply = app
        .post(
            "/chat",
            json!({"session_id": "orig-chat", "message": "run echo hi"}),
        )
        .await;
    assert!(reply.body["reply"].as_str().unwrap().contains("hi"));
}

#[tokio::test]
async fn memory_audit_has_short_full_and_count() {
    let app = TestApp::new().await;
    app.post(
        "/chat",
        json!({"session_id": "audited", "message": "/run echo one"}),
    )
    .await;
    let reply = app.get("/memory/audit/audited").await;
    assert_eq!(reply.status, StatusCode::OK);
    for list in ["short", "full"] {
        let messages = reply.body[list].as_array().unwrap();
        assert_eq!(messages.len(), 2, "{list}: {messages:?}");
        for message in messages {
            assert!(message["role"].is_string() && message["content"].is_string());
            assert!(message["timestamp"].is_string());
        }
    }
    assert_eq!(reply.body["count"], json!({"short": 2, "full": 2}));
    let unknown = app.get("/memory/audit/never-seen").await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.body["short"], json!([]));
    assert_eq!(unknown.body["full"], json!([]));
    assert_eq!(unknown.body["count"], json!({"short": 0, "full": 0}));
}

#[tokio::test]
async fn sessions_lists_ids_as_strings() {
    let app = TestApp::new().await;
    app.post(
        "/chat",
        json!({"session_id": "first", "message": "/run echo a"}),
    )
    .await;
    app.post(
        "/chat",
        json!({"session_id": "second", "message": "/run echo b"}),
    )
    .await;
    let reply = app.get("/sessions").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["sessions"], json!(["second", "first"]));
}

#[tokio::test]
async fn memory_lists_messages_and_its_reset_says_so() {
    let app = TestApp::new().await;
    app.post(
        "/chat",
        json!({"session_id": "mem", "message": "/run echo a"}),
    )
    .await;
    let reply = app.get("/memory?session_id=mem&mode=long").await;
    assert_eq!(reply.body["session_id"], "mem");
    let messages = reply.body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "user");
    assert!(messages[0]["content"].is_string() && messages[0]["timestamp"].is_string());
    let reset = app.delete("/memory?session_id=mem").await;
    assert_eq!(reset.status, StatusCode::OK);
    assert!(reset.body["message"].as_str().unwrap().contains("reset"));
}

#[tokio::test]
async fn version_has_version() {
    let app = TestApp::new().await;
    assert!(app.get("/version").await.body["version"].is_string());
}

#[tokio::test]
async fn an_unknown_path_answers_json_with_detail() {
    let app = TestApp::new().await;
    let reply = app.get("/no/such/path").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body["detail"].is_string(), "{}", reply.body);
    // Every error carries it, beside our envelope.
    let reply = app.execute("nonexistent", json!(null)).await;
    assert_eq!(reply.body["detail"], reply.body["error"]["message"]);
}

#[tokio::test]
async fn models_and_status_answer_without_a_model() {
    let app = TestApp::new().await;
    let models = app.get("/models").await;
    assert_eq!(models.status, StatusCode::OK);
    assert_eq!(models.body["models"], json!([]));
    assert_eq!(models.body["api_key_configured"], false);
    let status = app.get("/status").await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["available_models"], json!([]));
    assert_eq!(status.body["default_model"], Value::Null);
}

#[tokio::test]
async fn models_and_status_name_the_configured_models() {
    let provider = |name: &str, model: &str, key: Option<&str>| codex_agent::chat::ProviderConfig {
        name: name.to_owned(),
        base_url: "http://127.0.0.1:9/v1".to_owned(),
        model: model.to_owned(),
        api_key_env: key.map(str::to_owned),
        timeout_ms: 1000,
        max_retries: 0,
        max_tokens: None,
    };
    let app = TestApp::with_model(codex_agent::chat::ChatConfig {
        providers: vec![
            provider("local", "llama3.2", None),
            provider(
                "cloud",
                "gpt-4o-mini",
                Some("CODEX_TEST_KEY_THAT_IS_NEVER_SET"),
            ),
        ],
        ..Default::default()
    })
    .await;
    let models = app.get("/models").await.body;
    assert_eq!(models["models"], json!(["llama3.2", "gpt-4o-mini"]));
    assert_eq!(models["default_model"], "llama3.2");
    // The cloud provider names a key variable that is not set.
    assert_eq!(models["api_key_configured"], false);
    let status = app.get("/status").await.body;
    assert_eq!(
        status["available_models"],
        json!(["llama3.2", "gpt-4o-mini"])
    );
    assert_eq!(status["default_model"], "llama3.2");
    assert_eq!(status["model_configured"], true);
}
