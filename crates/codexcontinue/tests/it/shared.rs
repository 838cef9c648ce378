//! Several servers on one PostgreSQL act as one system: a key made with the CLI works on
//! both, a key revoked on one is refused by the other within a second, and a plugin switched
//! off through one is off on the other within a second and after both restart.

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
