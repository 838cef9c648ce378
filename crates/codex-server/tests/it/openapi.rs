//! The OpenAPI document is generated from the code; this snapshot shows every change
//! to the public API in review. Regenerate with `UPDATE_SNAPSHOTS=1 cargo test`.

use axum::http::StatusCode;

use crate::app::TestApp;

#[tokio::test]
async fn openapi_matches_the_snapshot() {
    let app = TestApp::new().await;
    let reply = app.get("/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let actual = serde_json::to_string_pretty(&reply.body).unwrap() + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "openapi.json changed; review and run with UPDATE_SNAPSHOTS=1 to accept"
    );
    for route in [
        "/api/plugins",
        "/api/plugins/execute",
        "/api/tools",
        "/health",
        "/memory",
        "/memory/audit/{session_id}",
        "/sessions",
        "/sessions/{id}",
        "/plugin-logs/{session_id}",
    ] {
        assert!(reply.body["paths"].get(route).is_some(), "{route} missing");
    }
}

// Handlers named alike in different modules (`plugins::list`, `sessions::list`) got the
// same operation id, which client generators turn into clashing method names.
#[tokio::test]
async fn operation_ids_are_unique() {
    let app = TestApp::new().await;
    let reply = app.get("/openapi.json").await;
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in reply.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(!id.is_empty(), "{method} {path} has no operation id");
            if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
                panic!("operation id {id} is used by {other} and {method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn interactive_docs_are_served() {
    let app = TestApp::new().await;
    let reply = app.get("/docs/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.as_str().unwrap_or_default().contains("swagger"));
}
