//! Nothing acknowledged is lost: `serve` killed with SIGKILL under concurrent load keeps every
//! execution it answered, and two servers on one PostgreSQL share their sessions.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Child;
use tokio::sync::{Mutex, Notify};

/// Acknowledged executions, as `(session, execution_id)`.
type Acks = Arc<Mutex<Vec<(String, String)>>>;

/// `serve` on a free port over `database_url`; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    async fn start(dir: &Path, database_url: &str) -> Server {
        let (child, url) = crate::serve_in(dir, &["--database-url", database_url]).await;
        Server { child, url }
    }

    async fn execute(
        &self,
        client: &reqwest::Client,
        session: &str,
        data: Value,
    ) -> Option<String> {
        execute(client, &self.url, session, data).await
    }

    /// The whole audit timeline of `session`, as `(seq, id)`, fetched page by page.
    async fn audit(&self, client: &reqwest::Client, session: &str) -> Vec<(i64, String)> {
        let mut events = Vec::new();
        let mut after: Option<i64> = None;
        loop {
            let mut url = format!("{}/memory/audit/{session}?limit=100", self.url);
            if let Some(after) = after {
                url.push_str(&format!("&after={after}"));
            }
            let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            for event in page["events"].as_array().expect("events") {
                events.push((
                    event["seq"].as_i64().unwrap(),
                    event["id"].as_str().unwrap().to_owned(),
                ));
            }
            match page["next_after"].as_i64() {
                Some(next) => after = Some(next),
                None => return events,
            }
        }
    }
}

/// Executes echo through the server at `base_url`; answers the execution id when acknowledged.
async fn execute(
    client: &reqwest::Client,
    base_url: &str,
    session: &str,
    data: Value,
) -> Option<String> {
    let reply = client
        .post(format!("{base_url}/api/plugins/execute"))
        .json(&json!({"plugin": "echo", "data": data, "session_id": session}))
        .send()
        .await
        .ok()?;
    if !reply.status().is_success() {
        return None;
    }
    let body: Value = reply.json().await.ok()?;
    body["execution_id"].as_str().map(str::to_owned)
}

/// Checks that every acknowledged execution is in its session's audit, read through
/// `server`, and that each session's log is numbered 1, 2, 3, ... without gaps.
async fn check_acknowledged(server: &Server, acks: &[(String, String)]) {
    let client = reqwest::Client::new();
    let mut by_session: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (session, id) in acks {
        by_session.entry(session).or_default().push(id);
    }
    for (session, acked) in by_session {
        let events = server.audit(&client, session).await;
        let seqs: Vec<i64> = events.iter().map(|(seq, _)| *seq).collect();
        let expected: Vec<i64> = (1..=events.len() as i64).collect();
        assert_eq!(seqs, expected, "session {session} has gaps");
        let stored: HashSet<&str> = events.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(stored.len(), events.len(), "duplicate ids in {session}");
        for id in acked {
            assert!(stored.contains(id), "acknowledged {id} of {session} lost");
        }
    }
}

/// `writers` tasks executing echo through `server` until `stop` is notified or the server
/// stops answering; every answered execution goes into `acks`.
fn spawn_writers(
    server_url: &str,
    sessions: Vec<String>,
    acks: &Acks,
    per_writer: Option<usize>,
    on_ack: Arc<dyn Fn(usize) + Send + Sync>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    sessions
        .into_iter()
        .map(|session| {
            let url = server_url.to_owned();
            let (client, acks, count, on_ack) =
                (client.clone(), acks.clone(), count.clone(), on_ack.clone());
            tokio::spawn(async move {
                for n in 0..per_writer.unwrap_or(usize::MAX) {
                    let Some(id) = execute(&client, &url, &session, json!(n)).await else {
                        return;
                    };
                    acks.lock().await.push((session.clone(), id));
                    on_ack(count.fetch_add(1, Ordering::SeqCst) + 1);
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_executions_survive_kill_9() {
    const WRITERS: usize = 16;
    const ACKS_BEFORE_KILL: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let mut server = Server::start(dir.path(), &database_url).await;

    let acks: Acks = Arc::default();
    let enough = Arc::new(Notify::new());
    let notify = enough.clone();
    let on_ack: Arc<dyn Fn(usize) + Send + Sync> = Arc::new(move |n| {
        if n >= ACKS_BEFORE_KILL {
            notify.notify_one();
        }
    });
    let sessions = (0..WRITERS).map(|i| format!("writer-{i}")).collect();
    let writers = spawn_writers(&server.url, sessions, &acks, None, on_ack);
    tokio::time::timeout(Duration::from_secs(120), enough.notified())
        .await
        .expect("the writers were not acknowledged in time");
    // SIGKILL: no drain, no flush, no close.
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(60), writer)
            .await
            .expect("a writer hung after the kill")
            .unwrap();
    }
    let acks = acks.lock().await.clone();
    assert!(acks.len() >= ACKS_BEFORE_KILL);

    let restarted = Server::start(dir.path(), &database_url).await;
    check_acknowledged(&restarted, &acks).await;
    // The log goes on where it stopped.
    let client = reqwest::Client::new();
    let before = restarted.audit(&client, "writer-0").await.len() as i64;
    restarted
        .execute(&client, "writer-0", json!("after"))
        .await
        .expect("the restarted server executes");
    let after = restarted.audit(&client, "writer-0").await;
    assert_eq!(after.last().map(|(seq, _)| *seq), Some(before + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_share_sessions_on_one_postgres() {
    const PER_WRITER: usize = 10;
    let postgres = codex_store::test_support::TempPostgres::shared()
        .expect("a throwaway PostgreSQL (scripts/ensure-postgres.sh installs it)");
    let database_url = postgres.fresh_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let a = Server::start(dir.path(), &database_url).await;
    let b = Server::start(dir.path(), &database_url).await;

    let acks: Acks = Arc::default();
    let ignore: Arc<dyn Fn(usize) + Send + Sync> = Arc::new(|_| {});
    // Both servers write the same session at once, and each a session of its own.
    let mut writers = spawn_writers(
        &a.url,
        vec![
            "shared".into(),
            "shared".into(),
            "shared".into(),
            "only-a".into(),
        ],
        &acks,
        Some(PER_WRITER),
        ignore.clone(),
    );
    writers.extend(spawn_writers(
        &b.url,
        vec![
            "shared".into(),
            "shared".into(),
            "shared".into(),
            "only-b".into(),
        ],
        &acks,
        Some(PER_WRITER),
        ignore,
    ));
    for writer in writers {
        writer.await.unwrap();
    }
    let acks = acks.lock().await.clone();
    assert_eq!(acks.len(), 8 * PER_WRITER, "some executions failed");

    // Each server audits what the other wrote.
    check_acknowledged(&a, &acks).await;
    check_acknowledged(&b, &acks).await;
    let client = reqwest::Client::new();
    assert_eq!(b.audit(&client, "only-a").await.len(), PER_WRITER);
    assert_eq!(a.audit(&client, "only-b").await.len(), PER_WRITER);
    assert_eq!(a.audit(&client, "shared").await.len(), 6 * PER_WRITER);
    let sessions: Value = client
        .get(format!("{}/sessions", b.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 3);
}
