//! MCP servers' tools through the HTTP API: `@modelcontextprotocol/server-everything` (npm,
//! over stdio) configured on the real router, listed and run like any plugin.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use codex_host::McpServerConfig;
use serde_json::json;

use crate::app::TestApp;

/// `@modelcontextprotocol/server-everything` as installed by `scripts/ensure-test-tools.sh`.
fn everything() -> McpServerConfig {
    let npm = std::env::var_os("CODEX_TEST_NPM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/codexcontinue/npm")
        });
    let script = npm.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        script.exists(),
        "{} is missing: run scripts/ensure-test-tools.sh (or set CODEX_TEST_NPM)",
        script.display()
    );
    McpServerConfig::stdio("node", [script.display().to_string(), "stdio".to_owned()])
}

#[tokio::test]
async fn everything_echo_is_listed_and_runs_over_http() {
    let app = TestApp::with(|config| {
        config
            .mcp_servers
            .insert("everything".to_owned(), everything());
    })
    .await;
    // The server's tools appear once it has started and listed them.
    let mut changes = app.state.plugins.subscribe();
    tokio::time::timeout(Duration::from_secs(60), async {
        while app.state.plugins.get("everything__echo").is_err() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no everything__echo: {:?}", app.state.plugins.load_errors()));

    let reply = app.get("/api/plugins").await;
    assert_eq!(reply.status, StatusCode::OK);
    let echo = reply.body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "everything__echo")
        .cloned()
        .expect("everything__echo listed");
    assert_eq!(echo["kind"], "mcp");
    assert_eq!(echo["enabled"], true);

    let reply = app
        .execute("everything__echo", json!({"message": "over http"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        reply.body.to_string().contains("over http"),
        "{}",
        reply.body
    );

    // The same tool from chat: `/run` dispatches without a model.
    let reply = app
        .post(
            "/chat",
            json!({"message": "/run everything__echo {\"message\": \"from chat\"}", "session_id": "mcp-chat"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let text = reply.body["reply"].as_str().unwrap();
    assert!(text.contains("from chat"), "{text}");
    let logs = app.get("/plugin-logs/mcp-chat").await;
    assert!(
        logs.body.to_string().contains("everything__echo"),
        "{}",
        logs.body
    );

    app.state.plugins.shutdown().await;
}
