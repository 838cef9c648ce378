//! Keys at the edge: 401 for a missing, wrong, revoked or malformed key on every route but
//! `/health`; 403 for a user key on admin routes and ungranted plugins; tool lists filtered
//! per key; sessions private to their key (404 on every route that takes a session id);
//! 429 with `Retry-After` when a key's rate is used up; the same rules on `/mcp`.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use codex_store::{KeyRole, NewApiKey};
use serde_json::{Value, json};

use crate::app::{Reply, TestApp};

/// An app with one admin key in its config, and a user key `alice` (granted `calculator` and
/// `echo*`) and an admin key `ops` in its store.
struct Keyed {
    app: TestApp,
    admin: String,
    alice: String,
    ops: String,
}

const CONFIG_KEY: &str = "0123456789abcdef-config-key";

async fn keyed() -> Keyed {
    keyed_with_rate(None).await
}

async fn keyed_with_rate(rate: Option<f64>) -> Keyed {
    let app = TestApp::with_api_keys(vec![CONFIG_KEY.to_owned()]).await;
    let alice = create(&app, "alice", KeyRole::User, &["calculator", "echo*"], rate).await;
    let ops = create(&app, "ops", KeyRole::Admin, &[], None).await;
    Keyed {
        app,
        admin: CONFIG_KEY.to_owned(),
        alice,
        ops,
    }
}

async fn create(
    app: &TestApp,
    name: &str,
    role: KeyRole,
    grants: &[&str],
    rate: Option<f64>,
) -> String {
    let issued = app
        .store
        .create_key(NewApiKey {
            name: name.to_owned(),
            role,
            grants: grants.iter().map(|g| (*g).to_owned()).collect(),
            rate_per_second: rate,
        })
        .await
        .expect("create a key");
    // The ring hears of it over the bus; reloading here makes the test not wait for that.
    app.state.keys.reload().await.expect("reload keys");
    issued.secret
}

impl Keyed {
    async fn call(&self, method: Method, path: &str, body: Option<Value>, key: &str) -> Reply {
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.app
            .send_with(
                method,
                path,
                body,
                &[("authorization", &format!("Bearer {key}"))],
            )
            .await
    }

    async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, None, key).await
    }

    async fn post(&self, path: &str, body: Value, key: &str) -> Reply {
        self.call(Method::POST, path, Some(body), key).await
    }
}

/// Every route the router lists but `/health`, with a request that would otherwise succeed
/// or fail for another reason than the key.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/plugins"),
    ("POST", "/api/plugins/execute"),
    ("POST", "/api/plugins/reload"),
    ("GET", "/api/plugins/echo"),
    ("POST", "/api/plugins/echo/enable"),
    ("POST", "/api/plugins/echo/disable"),
    ("GET", "/api/tools"),
    ("GET", "/api/keys"),
    ("POST", "/api/keys"),
    ("DELETE", "/api/keys/alice"),
    ("GET", "/api/executions"),
    ("GET", "/api/analytics"),
    ("GET", "/api/sessions"),
    ("GET", "/api/sessions/s/events"),
    ("GET", "/plugins"),
    ("POST", "/plugins/execute"),
    ("GET", "/tools"),
    ("GET", "/models"),
    ("GET", "/status"),
    ("GET", "/memory"),
    ("DELETE", "/memory"),
    ("GET", "/memory/audit/s"),
    ("GET", "/sessions"),
    ("DELETE", "/sessions/s"),
    ("GET", "/plugin-logs/s"),
    ("GET", "/analytics"),
    ("GET", "/version"),
    ("POST", "/chat"),
    ("POST", "/chat/stream"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("POST", "/mcp"),
    ("GET", "/openapi.json"),
];

#[tokio::test]
async fn a_missing_wrong_revoked_or_malformed_key_is_401_everywhere_but_health() {
    let keyed = keyed().await;
    let revoked = create(&keyed.app, "gone", KeyRole::Admin, &[], None).await;
    assert!(keyed.app.store.revoke_key("gone").await.unwrap());
    keyed.app.state.keys.reload().await.unwrap();
    let bearer = |key: &str| format!("Bearer {key}");
    let presented: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("authorization", bearer("cc_wrong"))],
        vec![("x-api-key", "wrong".to_owned())],
        vec![("authorization", bearer(&revoked))],
        vec![("authorization", "Bearer ".to_owned())],
        vec![("authorization", format!("Basic {}", keyed.alice))],
        vec![("authorization", bearer("ключ"))],
        vec![("x-api-key", format!("{}\u{e9}", keyed.alice))],
    ];
    for (method, path) in ROUTES {
        for headers in &presented {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let reply = keyed
                .app
                .send_with(method.parse().unwrap(), path, Body::from("{}"), &headers)
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {headers:?}: {}",
                reply.body
            );
            assert_eq!(reply.body["error"]["code"], "unauthorized");
        }
    }
    assert_eq!(keyed.app.get("/health").await.status, StatusCode::OK);
    // The config key, a stored admin key and a user key all get through.
    for key in [&keyed.admin, &keyed.ops, &keyed.alice] {
        assert_eq!(keyed.get("/version", key).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_user_key_is_403_on_admin_routes_and_ungranted_plugins() {
    let keyed = keyed().await;
    let alice = &keyed.alice;
    for (method, path) in [
        ("POST", "/api/plugins/reload"),
        ("POST", "/api/plugins/echo/enable"),
        ("POST", "/api/plugins/echo/disable"),
        ("GET", "/api/keys"),
        ("POST", "/api/keys"),
        ("DELETE", "/api/keys/ops"),
        // Another key's calls.
        ("GET", "/api/analytics?actor=ops"),
        ("GET", "/api/executions?actor=ops"),
    ] {
        keyed
            .call(
                method.parse().unwrap(),
                path,
                Some(json!({"name": "x"})),
                alice,
            )
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    // Granted: by name, and by pattern; an alias resolves to the plugin's own name.
    let ok = keyed
        .post(
            "/api/plugins/execute",
            json!({"plugin": "calculator", "data": "2*3"}),
            alice,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let ok = keyed
        .post(
            "/plugins/execute",
            json!({"plugin": "echo", "data": "hi"}),
            alice,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    for path in ["/api/plugins/execute", "/plugins/execute"] {
        keyed
            .post(path, json!({"plugin": "slow", "data": 1}), alice)
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    // `/run` of an ungranted plugin in chat and /v1 too, before anything is stored.
    keyed
        .post(
            "/chat",
            json!({"message": "/run slow 1", "session_id": "a"}),
            alice,
        )
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let refused = keyed
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "/run slow 1"}]}),
            alice,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let ran = keyed
        .post(
            "/chat",
            json!({"message": "/run calculator 1+1", "session_id": "a"}),
            alice,
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    // Admins run anything.
    let ok = keyed
        .post(
            "/api/plugins/execute",
            json!({"plugin": "slow", "data": 1}),
            &keyed.ops,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn tool_lists_are_filtered_per_key() {
    let keyed = keyed().await;
    let names = |reply: Reply| -> Vec<String> {
        let mut names: Vec<String> = reply.body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["plugin"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    for path in ["/api/tools", "/tools"] {
        let alice = names(keyed.get(path, &keyed.alice).await);
        assert_eq!(alice, vec!["calculator", "echo"], "{path}");
        let admin = names(keyed.get(path, &keyed.admin).await);
        assert!(
            admin.len() > 2 && admin.contains(&"slow".to_owned()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn another_keys_session_is_404_on_every_session_route() {
    let keyed = keyed().await;
    let bob = create(&keyed.app, "bob", KeyRole::User, &["calculator"], None).await;
    let ran = keyed
        .post(
            "/api/plugins/execute",
            json!({"plugin": "calculator", "data": "1+1", "session_id": "alice-s"}),
            &keyed.alice,
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    let reads = [
        ("GET", "/memory?session_id=alice-s"),
        ("DELETE", "/memory?session_id=alice-s"),
        ("GET", "/memory/audit/alice-s"),
        ("GET", "/plugin-logs/alice-s"),
        ("GET", "/api/sessions/alice-s/events"),
        ("GET", "/api/executions?session_id=alice-s"),
        ("DELETE", "/sessions/alice-s"),
    ];
    for (method, path) in reads {
        for session_less in [false, true] {
            // Another key's session and a session nobody has answer alike.
            let path = if session_less {
                path.replace("alice-s", "nobody-s")
            } else {
                path.to_owned()
            };
            keyed
                .call(method.parse().unwrap(), &path, None, &bob)
                .await
                .assert_error(StatusCode::NOT_FOUND, "not_found");
        }
    }
    // Writing into it is refused the same way, through every surface that takes a session.
    keyed
        .post(
            "/api/plugins/execute",
            json!({"plugin": "calculator", "data": "1", "session_id": "alice-s"}),
            &bob,
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    keyed
        .post(
            "/chat",
            json!({"message": "/run calculator 1", "session_id": "alice-s"}),
            &bob,
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // Its owner and admins read it.
    for key in [&keyed.alice, &keyed.ops, &keyed.admin] {
        let audit = keyed.get("/memory/audit/alice-s", key).await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
        assert_eq!(audit.body["events"].as_array().unwrap().len(), 1);
    }
    // Listings show a user its own sessions only.
    let listed = keyed.get("/sessions", &bob).await;
    assert_eq!(listed.body["sessions"], json!([]));
    let listed = keyed.get("/sessions", &keyed.alice).await;
    assert_eq!(listed.body["sessions"], json!(["alice-s"]));
    let listed = keyed.get("/api/sessions", &keyed.alice).await;
    assert_eq!(listed.body["sessions"][0]["id"], "alice-s");
    // Purged by its owner, the id is free again for whoever comes next.
    let purged = keyed
        .call(Method::DELETE, "/sessions/alice-s", None, &keyed.alice)
        .await;
    assert_eq!(purged.status, StatusCode::OK, "{}", purged.body);
    let ran = keyed
        .post(
            "/api/plugins/execute",
            json!({"plugin": "calculator", "data": "2", "session_id": "alice-s"}),
            &bob,
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after() {
    let keyed = keyed_with_rate(Some(1.0)).await;
    let first = keyed.get("/version", &keyed.alice).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = keyed.get("/version", &keyed.alice).await;
    second.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry: u64 = second.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "retry after {retry}");
    // Other keys have buckets of their own.
    assert_eq!(
        keyed.get("/version", &keyed.ops).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn admins_manage_keys_over_http_and_a_revoked_key_is_refused_at_once() {
    let keyed = keyed().await;
    let created = keyed
        .post(
            "/api/keys",
            json!({"name": "carol", "plugins": ["echo"], "rate_per_second": 10.0}),
            &keyed.ops,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let carol = created.body["key"].as_str().unwrap().to_owned();
    assert_eq!(created.body["role"], "user");
    assert_eq!(keyed.get("/version", &carol).await.status, StatusCode::OK);
    let listed = keyed.get("/api/keys", &keyed.admin).await;
    let text = listed.body.to_string();
    assert!(text.contains("carol") && !text.contains(&carol[3..]));
    keyed
        .post("/api/keys", json!({"name": "carol"}), &keyed.ops)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    keyed
        .post(
            "/api/keys",
            json!({"name": "dave", "role": "root"}),
            &keyed.ops,
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let revoked = keyed
        .call(Method::DELETE, "/api/keys/carol", None, &keyed.ops)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    keyed
        .get("/version", &carol)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // Revoking is idempotent (Schemathesis' stateful phase revokes what another worker revoked);
    // only a name never issued is unknown.
    let again = keyed
        .call(Method::DELETE, "/api/keys/carol", None, &keyed.ops)
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    keyed
        .call(Method::DELETE, "/api/keys/nobody", None, &keyed.ops)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn without_any_key_everything_stays_open() {
    let app = TestApp::new().await;
    assert!(app.state.keys.is_open());
    assert_eq!(app.get("/api/keys").await.status, StatusCode::OK);
    assert_eq!(app.execute("slow", json!(1)).await.status, StatusCode::OK);
    let audit = app.get("/memory/audit/default").await;
    assert_eq!(audit.status, StatusCode::OK);
}

/// The MCP endpoint applies the HTTP rules: no key, no session; a user key lists and calls
/// only its granted tools.
#[tokio::test]
async fn mcp_lists_and_calls_only_granted_tools() {
    let keyed = keyed().await;
    let rpc = |body: Value, key: &str, session: Option<String>| {
        let auth = format!("Bearer {key}");
        let app = &keyed.app;
        async move {
            let mut headers = vec![
                ("host", "127.0.0.1"),
                ("authorization", auth.as_str()),
                ("accept", "application/json, text/event-stream"),
            ];
            let session = session.unwrap_or_default();
            if !session.is_empty() {
                headers.push(("mcp-session-id", session.as_str()));
                headers.push(("mcp-protocol-version", "2025-06-18"));
            }
            app.send_with(Method::POST, "/mcp", Body::from(body.to_string()), &headers)
                .await
        }
    };
    let open = |key: String| {
        let rpc = &rpc;
        async move {
            let init = rpc(
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                  "clientInfo": {"name": "t", "version": "0"}}}),
                &key,
                None,
            )
            .await;
            assert_eq!(init.status, StatusCode::OK, "{}", init.body);
            let session = init.headers["mcp-session-id"].to_str().unwrap().to_owned();
            rpc(
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                &key,
                Some(session.clone()),
            )
            .await;
            session
        }
    };
    let session = open(keyed.alice.clone()).await;
    let listed = rpc(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        &keyed.alice,
        Some(session.clone()),
    )
    .await;
    let listed = sse_data(&listed);
    let mut tools: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    tools.sort();
    assert_eq!(tools, vec!["calculator", "echo"]);
    let refused = rpc(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "slow", "arguments": {"data": 1}}}),
        &keyed.alice,
        Some(session.clone()),
    )
    .await;
    let refused = sse_data(&refused);
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not granted")),
        "{refused}"
    );
    let ran = rpc(
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
               "params": {"name": "calculator", "arguments": {"expression": "2+2"}}}),
        &keyed.alice,
        Some(session),
    )
    .await;
    let ran = sse_data(&ran);
    assert!(ran.get("result").is_some(), "{ran}");
}

/// The JSON-RPC message of a streamable HTTP answer (plain JSON, or the `data:` of its SSE).
fn sse_data(reply: &Reply) -> Value {
    if reply.body.is_object() {
        return reply.body.clone();
    }
    let text = reply.body.as_str().unwrap_or_default();
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|message| message.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in {text:?}"))
}

/// Who did what: every event a request causes records its key (execute, and a chat turn's
/// messages and runs); the audit, the logs and the analytics filter by it; and a user key's
/// analytics and cross-session log count only its own calls.
#[tokio::test]
async fn events_record_their_key_and_each_key_sees_its_own_calls() {
    let keyed = keyed().await;
    let ran = keyed
        .post(
            "/api/plugins/execute",
            json!({"plugin": "calculator", "data": "1+1", "session_id": "mixed"}),
            &keyed.alice,
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    let chat = keyed
        .post(
            "/chat",
            json!({"message": "/run echo hi", "session_id": "mixed"}),
            &keyed.alice,
        )
        .await;
    assert_eq!(chat.status, StatusCode::OK, "{}", chat.body);
    let ran = keyed
        .post(
            "/api/plugins/execute",
            json!({"plugin": "echo", "data": "ops", "session_id": "mixed"}),
            &keyed.ops,
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);

    // The audit: every event says whose request caused it, and filters by it.
    let audit = keyed.get("/memory/audit/mixed", &keyed.ops).await;
    let events = audit.body["events"].as_array().unwrap();
    let actors: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["actor"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        actors,
        [
            ("plugin_execution", "alice"),
            ("message", "alice"),
            ("plugin_execution", "alice"),
            ("message", "alice"),
            ("plugin_execution", "ops"),
        ],
        "{}",
        audit.body
    );
    let only_ops = keyed.get("/memory/audit/mixed?actor=ops", &keyed.ops).await;
    assert_eq!(only_ops.body["events"].as_array().unwrap().len(), 1);

    // The logs of the session, by key.
    let logs = keyed
        .get("/plugin-logs/mixed?actor=alice", &keyed.ops)
        .await;
    let plugins: Vec<&str> = logs.body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|log| log["plugin"].as_str().unwrap())
        .collect();
    assert_eq!(plugins, ["echo", "calculator"], "{}", logs.body);

    // Across sessions: a user key sees its own runs, an admin any key's or all.
    let count = |reply: &Reply| reply.body["executions"].as_array().unwrap().len();
    let own = keyed.get("/api/executions", &keyed.alice).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(count(&own), 2);
    assert_eq!(
        count(&keyed.get("/api/executions?actor=alice", &keyed.alice).await),
        2
    );
    assert_eq!(count(&keyed.get("/api/executions", &keyed.ops).await), 3);
    assert_eq!(
        count(&keyed.get("/api/executions?actor=ops", &keyed.ops).await),
        1
    );

    // Analytics: a user key's own calls; an admin's, every key's or one key's.
    let calls = |reply: &Reply| reply.body["totals"]["calls"].as_u64().unwrap();
    let own = keyed.get("/api/analytics", &keyed.alice).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(calls(&own), 2, "{}", own.body);
    assert_eq!(calls(&keyed.get("/api/analytics", &keyed.ops).await), 3);
    assert_eq!(
        calls(&keyed.get("/api/analytics?actor=alice", &keyed.ops).await),
        2
    );
    let original = keyed.get("/analytics", &keyed.alice).await;
    assert_eq!(original.status, StatusCode::OK, "{}", original.body);
    assert_eq!(original.body["model_usage"]["calculator"], 1);
    assert_eq!(original.body["model_usage"]["echo"], 1);
    let recent: Vec<&str> = original.body["recent_conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(recent, ["mixed"]);
}
