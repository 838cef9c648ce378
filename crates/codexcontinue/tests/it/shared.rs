//! Several servers on one PostgreSQL act as one system: a key made with the CLI works on
//! both, a key revoked on one is refused by the other within a second, a plugin switched
//! off through one is off on the other within a second and after both restart, and a cancel
//! or an approval sent to one reaches the work running on the other.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Child;

use crate::{codexcontinue, serve_in, stdout};

/// How long a change may take to reach the other server.
const PROPAGATION: Duration = Duration::from_secs(1);

struct Server {
    url: String,
    _child: Child,
}

async fn start(dir: &Path, database_url: &str) -> Server {
    let (child, url) = serve_in(dir, &["--database-url", database_url]).await;
    Server { url, _child: child }
}

fn cli(dir: &Path, database_url: &str, args: &[&str]) -> String {
    let output = codexcontinue(dir)
        .args(["--database-url", database_url])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

async fn status(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `check` until it holds or `within` passes; answers how long it took.
async fn within<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what} took longer than {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_share_keys_and_switches_on_one_postgres() {
    let postgres = codex_store::test_support::TempPostgres::shared()
        .expect("a throwaway PostgreSQL (scripts/ensure-postgres.sh installs it)");
    let database_url = postgres.fresh_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let a = start(dir.path(), &database_url).await;
    let b = start(dir.path(), &database_url).await;
    let client = reqwest::Client::new();

    // Keys made with the CLI work on both servers; without one, both refuse.
    let ops = cli(
        dir.path(),
        &database_url,
        &["keys", "create", "--name", "ops", "--role", "admin"],
    );
    let ops = ops.trim().to_owned();
    let alice = cli(
        dir.path(),
        &database_url,
        &[
            "keys",
            "create",
            "--name",
            "alice",
            "--plugins",
            "calculator,echo",
        ],
    );
    let alice = alice.trim().to_owned();
    for server in [&a, &b] {
        for key in [&ops, &alice] {
            let (code, body) = status(
                client
                    .get(format!("{}/version", server.url))
                    .bearer_auth(key),
            )
            .await;
            assert_eq!(code, StatusCode::OK, "{body}");
        }
        within(PROPAGATION, "requiring keys", || async {
            client
                .get(format!("{}/version", server.url))
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::UNAUTHORIZED
        })
        .await;
    }
    let listed = cli(dir.path(), &database_url, &["keys", "list"]);
    assert!(listed.contains("alice") && listed.contains("ops") && !listed.contains(&alice));

    // Revoked through A, refused by B within a second.
    let (code, _) = status(
        client
            .delete(format!("{}/api/keys/alice", a.url))
            .bearer_auth(&ops),
    )
    .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let took = within(PROPAGATION, "the revocation reaching B", || async {
        client
            .get(format!("{}/version", b.url))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::UNAUTHORIZED
    })
    .await;
    println!("revocation reached the other server in {took:?}");

    // Disabled through A, refused by B within a second.
    let execute = |server: &Server| {
        client
            .post(format!("{}/api/plugins/execute", server.url))
            .bearer_auth(&ops)
            .json(&json!({"plugin": "calculator", "data": "1+1"}))
    };
    let (code, body) = status(execute(&b)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, _) = status(
        client
            .post(format!("{}/api/plugins/calculator/disable", a.url))
            .bearer_auth(&ops),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let took = within(PROPAGATION, "the switch reaching B", || async {
        execute(&b).send().await.unwrap().status() == StatusCode::FORBIDDEN
    })
    .await;
    println!("the switch reached the other server in {took:?}");

    // Still off after both restart.
    drop(a);
    drop(b);
    let a = start(dir.path(), &database_url).await;
    let b = start(dir.path(), &database_url).await;
    for server in [&a, &b] {
        let (code, body) = status(execute(server)).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "plugin_disabled");
    }

    // The CLI switches it back on, servers running: both apply it within a second.
    cli(
        dir.path(),
        &database_url,
        &["plugins", "enable", "calculator"],
    );
    for server in [&a, &b] {
        within(
            PROPAGATION,
            "the CLI's switch reaching a server",
            || async { execute(server).send().await.unwrap().status() == StatusCode::OK },
        )
        .await;
    }
}

/// On SQLite, one server: the CLI's switch reaches the running server too (through the
/// file's bus table), and the switch survives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_switches_a_plugin_of_a_running_sqlite_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("codexcontinue.db").display());
    let mut server = start(dir.path(), &database_url).await;
    let client = reqwest::Client::new();
    let execute = |server: &Server| {
        client
            .post(format!("{}/api/plugins/execute", server.url))
            .json(&json!({"plugin": "calculator", "data": "1+1"}))
    };
    assert_eq!(
        execute(&server).send().await.unwrap().status(),
        StatusCode::OK
    );
    // `disable` stores the switch; `reset` clears it, which returns the plugin to the
    // server's configuration (calculator on). Each reaches the running server, and holds
    // after a restart.
    for (command, expected) in [
        ("disable", StatusCode::FORBIDDEN),
        ("reset", StatusCode::OK),
    ] {
        cli(
            dir.path(),
            &database_url,
            &["plugins", command, "calculator"],
        );
        within(
            PROPAGATION,
            &format!("the CLI's {command} reaching the server"),
            || async { execute(&server).send().await.unwrap().status() == expected },
        )
        .await;
        drop(server);
        server = start(dir.path(), &database_url).await;
        assert_eq!(execute(&server).send().await.unwrap().status(), expected);
    }
}

/// Reads a `text/event-stream` response event by event.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// The next event's name and data; panics when the stream ends or stays silent for 30 s.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        value.trim().clone_into(&mut name);
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (name, serde_json::from_str(&data).unwrap_or(Value::Null));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("the stream stayed silent for 30 s")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Skips events up to the first named `name`, and answers its data.
    async fn until(&mut self, name: &str) -> Value {
        loop {
            let (event, data) = self.next().await;
            if event == name {
                return data;
            }
            assert_ne!(event, "error", "{data}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_and_an_approval_sent_to_one_server_reach_the_work_on_the_other() {
    use codex_agent::test_support::{Scripted, ScriptedServer};

    let postgres = codex_store::test_support::TempPostgres::shared()
        .expect("a throwaway PostgreSQL (scripts/ensure-postgres.sh installs it)");
    let database_url = postgres.fresh_database().await.unwrap();
    let model = ScriptedServer::start(vec![
        Scripted::tool_call("echo", json!({"text": "from a"})),
        Scripted::reply("approved on b"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    // A Python plugin that runs until it is stopped.
    std::fs::write(
        dir.path().join("plugins/sleepy_plugin.py"),
        "import time\nfrom codexcontinue import PluginInterface\n\n\
         class SleepyPlugin(PluginInterface):\n    \
         def initialize(self):\n        \
         pass\n\n    \
         def shutdown(self):\n        \
         pass\n\n    \
         def execute(self, data):\n        \
         self.progress(0.0, 'asleep')\n        \
         time.sleep(120)\n        \
         return 'woke up'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("codexcontinue.toml"),
        crate::scripted_model_config(model.base_url(), None),
    )
    .unwrap();
    let a = start(dir.path(), &database_url).await;
    let b = start(dir.path(), &database_url).await;
    let client = reqwest::Client::new();

    // A call running on A, streamed so that the test knows it started, cancelled through B.
    let run_id = uuid::Uuid::now_v7().to_string();
    let mut call = Events {
        response: client
            .post(format!("{}/api/plugins/execute", a.url))
            .header("accept", "text/event-stream")
            .json(&json!({"plugin": "sleepy", "data": {}, "run_id": run_id}))
            .send()
            .await
            .unwrap(),
        buffer: String::new(),
    };
    assert_eq!(call.until("progress").await["message"], "asleep");
    let sent = Instant::now();
    let (code, body) =
        status(client.post(format!("{}/api/executions/{run_id}/cancel", b.url))).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["run"]["plugin"], "sleepy", "{body}");
    let (event, error) = loop {
        let (event, data) = call.next().await;
        if event == "error" || event == "result" {
            break (event, data);
        }
    };
    assert_eq!(event, "error", "{error}");
    assert_eq!(error["code"], "cancelled", "{error}");
    println!(
        "a cancel sent to B stopped the call on A in {:?}",
        sent.elapsed()
    );
    // An id that runs nowhere is still not running, from either server.
    for server in [&a, &b] {
        let unknown = uuid::Uuid::now_v7();
        let (code, body) =
            status(client.post(format!("{}/api/executions/{unknown}/cancel", server.url))).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "not_running");
    }

    // A turn on A waits for approval; B answers it, and the turn goes on on A.
    let mut turn = Events {
        response: client
            .post(format!("{}/chat/stream", a.url))
            .json(&json!({"message": "say it", "session_id": "shared-approval", "approval": "approve"}))
            .send()
            .await
            .unwrap(),
        buffer: String::new(),
    };
    let asked = turn.until("approval_required").await;
    let approval = asked["approval_id"].as_str().unwrap().to_owned();
    let (code, body) = status(
        client
            .post(format!("{}/api/approvals/{approval}", b.url))
            .json(&json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["approval"]["plugin"], "echo", "{body}");
    assert_eq!(turn.until("tool_result").await["ok"], true);
    assert_eq!(turn.until("done").await["reply"], "approved on b");
    // Answered once: neither server finds it pending any more.
    for server in [&a, &b] {
        let (code, _) = status(
            client
                .post(format!("{}/api/approvals/{approval}", server.url))
                .json(&json!({"decision": "deny"})),
        )
        .await;
        assert_eq!(code, StatusCode::NOT_FOUND);
    }
    // The audit on either server shows the question and its answer.
    let (_, audit) = status(client.get(format!("{}/memory/audit/shared-approval", b.url))).await;
    let states: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["kind"] == "approval")
        .map(|event| event["payload"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["requested", "approved"], "{audit}");
}
