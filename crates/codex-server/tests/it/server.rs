//! A real server on a loopback port: real TCP, real HTTP, graceful shutdown.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::TestApp;

#[tokio::test]
async fn serves_over_tcp_and_drains_on_shutdown() {
    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(codex_server::serve(
        listener,
        app.state.clone(),
        stop.clone().cancelled_owned(),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("http://{address}/api/plugins/execute");

    // A malformed body and a hostile plugin do not take the server down.
    let bad = client.post(&url).body("{oops").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    let panicked = client
        .post(&url)
        .json(&json!({"plugin": "panicky"}))
        .send()
        .await
        .unwrap();
    assert_eq!(panicked.status(), 500);

    let calls = (0..32).map(|i| {
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .post(&url)
                .json(&json!({"plugin": "echo", "data": i}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    let replies = futures::future::join_all(calls).await;
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(reply["result"]["echo"], i);
    }

    // A request in flight when shutdown starts still gets its answer.
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .post(&url)
                .json(&json!({"plugin": "slow", "data": 150}))
                .send()
                .await
        }
    });
    // Wait until the slow call is running before asking the server to stop.
    let entry = app.state.plugins.get("slow").unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while entry.in_flight() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("slow call never started");
    stop.cancel();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server did not stop")
        .unwrap()
        .unwrap();
}
