//! Every failure answers with the JSON envelope and the right status.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn unknown_plugin_suggests_a_close_name() {
    let app = TestApp::new().await;
    let reply = app.execute("calculater", json!("1+1")).await;
    reply.assert_error(StatusCode::NOT_FOUND, "plugin_not_found");
    assert_eq!(reply.body["error"]["suggestion"], "calculator");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean 'calculator'")
    );
    let reply = app.execute("zzzzzz", json!("1")).await;
    reply.assert_error(StatusCode::NOT_FOUND, "plugin_not_found");
    assert!(reply.body["error"].get("suggestion").is_none());
    // A lookup is not a run: nothing logged, no execution id.
    let reply = app.get("/api/plugins/nope").await;
    reply.assert_error(StatusCode::NOT_FOUND, "plugin_not_found");
    assert!(reply.body["error"].get("execution_id").is_none());
    app.post("/api/plugins/nope/enable", json!(null))
        .await
        .assert_error(StatusCode::NOT_FOUND, "plugin_not_found");
}

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = TestApp::new().await;
    for body in ["{\"plugin\": ", "not json", "", "[1,2]", "{\"plugin\": 5}"] {
        app.post_raw("/api/plugins/execute", body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn missing_or_unknown_field_is_a_bad_request() {
    let app = TestApp::new().await;
    let reply = app.post("/api/plugins/execute", json!({"data": "x"})).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plugin")
    );
    app.post("/api/plugins/execute", json!({"plugin": "echo", "dta": 1}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn oversized_body_is_rejected_with_413() {
    let app = TestApp::new().await;
    let big = "x".repeat(100 * 1024);
    app.execute("echo", json!(big))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // The server keeps serving.
    assert_eq!(
        app.execute("echo", json!("ok")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn plugin_rejecting_input_is_422() {
    let app = TestApp::new().await;
    for expr in ["1/0", "2*(3+", "9223372036854775807+1", "foo(1)"] {
        app.execute("calculator", json!(expr))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    }
    let reply = app.execute("calculator", json!("2*(3+")).await;
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("position"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn plugin_failure_is_500_with_a_generic_message() {
    let app = TestApp::new().await;
    let reply = app.execute("failing", json!(null)).await;
    reply.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "plugin_failed");
    assert!(!reply.body.to_string().contains("secret internal detail"));
}

#[tokio::test]
async fn unknown_route_and_wrong_method_use_the_envelope() {
    let app = TestApp::new().await;
    app.get("/api/nothing-here")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Method::DELETE, "/api/plugins", axum::body::Body::empty())
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    app.get("/api/plugins/execute")
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn api_keys_guard_everything_but_health() {
    let key = "0123456789abcdef-key";
    let app = TestApp::with_api_keys(vec![key.to_owned()]).await;
    app.get("/api/plugins")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.send_with(
        Method::GET,
        "/api/plugins",
        axum::body::Body::empty(),
        &[("authorization", "Bearer wrong")],
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let ok = app
        .send_with(
            Method::GET,
            "/api/plugins",
            axum::body::Body::empty(),
            &[("authorization", &format!("Bearer {key}"))],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let ok = app
        .send_with(
            Method::GET,
            "/version",
            axum::body::Body::empty(),
            &[("x-api-key", key)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}
