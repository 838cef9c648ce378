//! Timeouts, panics and output caps: the plugin fails, the server does not.

use std::time::Instant;

use axum::http::StatusCode;
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn slow_plugin_times_out_with_504() {
    let app = TestApp::new().await;
    let started = Instant::now();
    app.execute("slow", json!(5_000))
        .await
        .assert_error(StatusCode::GATEWAY_TIMEOUT, "plugin_timeout");
    // The configured timeout is 200 ms; the call must not wait for the plugin's 5 s.
    assert!(started.elapsed().as_millis() < 3_000);
    let reply = app.execute("slow", json!(1)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn panicking_plugin_is_500_and_the_server_keeps_serving() {
    let app = TestApp::new().await;
    for _ in 0..3 {
        let reply = app.execute("panicky", json!(null)).await;
        reply.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "plugin_failed");
        assert!(!reply.body.to_string().contains("boom"));
    }
    assert_eq!(app.execute("echo", json!(1)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn output_over_the_cap_is_refused() {
    let app = TestApp::new().await;
    assert_eq!(app.execute("big", json!(900)).await.status, StatusCode::OK);
    app.execute("big", json!(5_000))
        .await
        .assert_error(StatusCode::BAD_GATEWAY, "plugin_output_too_large");
}

#[tokio::test]
async fn concurrency_limit_queues_calls_within_the_timeout() {
    let app = TestApp::with(|config| {
        let slow = config.plugins.get_mut("slow").unwrap();
        slow.max_concurrency = Some(1);
        slow.timeout_ms = Some(1_000);
    })
    .await;
    // Two 300 ms calls through one slot: both fit in the 1 s budget, one after the other.
    let started = Instant::now();
    let (a, b) = tokio::join!(
        app.execute("slow", json!(300)),
        app.execute("slow", json!(300))
    );
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(b.status, StatusCode::OK);
    assert!(
        started.elapsed().as_millis() >= 600,
        "calls ran in parallel despite one slot"
    );
    // Four such calls cannot all fit: the last ones time out while queued.
    let replies = futures::future::join_all((0..4).map(|_| app.execute("slow", json!(300)))).await;
    let timeouts = replies
        .iter()
        .filter(|r| r.status == StatusCode::GATEWAY_TIMEOUT)
        .count();
    assert!(timeouts >= 1, "expected a queued call to time out");
}
