use super::*;

#[test]
fn backoff_doubles_up_to_the_cap() {
    // The delay after the n-th crash in a row, in whole milliseconds (the builder
    // multiplies in `f32`, a few nanoseconds off).
    let delays: Vec<u128> = restart_delays().take(1000).map(|d| d.as_millis()).collect();
    let delay = |streak: usize| delays[streak - 1];
    assert_eq!(delay(1), 100);
    assert_eq!(delay(2), 200);
    assert_eq!(delay(6), 3200);
    assert_eq!(delay(7), BACKOFF_MAX.as_millis());
    assert_eq!(delay(1000), BACKOFF_MAX.as_millis());
}

/// A plugin whose `hold` call runs until the test sends a byte on a socket (and then
/// exits the worker when asked), and whose `note` call appends its number to a file.
const RELAY: &str = r#"
import os, socket


class RelayPlugin:
    def execute(self, data):
        if data["op"] == "hold":
            conn = socket.create_connection(("127.0.0.1", data["port"]))
            conn.recv(1)
            if data.get("exit"):
                os._exit(5)
            return os.getpid()
        with open(data["log"], "a") as log:
            log.write("%s\n" % data["n"])
        return os.getpid()
"#;

struct Relay {
    dir: tempfile::TempDir,
    pool: Arc<Pool>,
    _kill: CancellationToken,
}

impl Relay {
    /// One worker, pipelining calls when they take less than `below` on average.
    async fn start(below: Option<Duration>) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("relay_plugin.py"), RELAY).unwrap();
        let shim = Arc::new(super::super::shim::ShimDir::create().unwrap());
        let spec = WorkerSpec {
            plugin: Arc::from("relay"),
            interpreter: "python3".into(),
            plugin_path: dir.path().join("relay_plugin.py"),
            class_name: "RelayPlugin".to_owned(),
            pythonpath: shim.path().as_os_str().to_owned(),
            shim,
            max_line_bytes: 1 << 20,
            stderr_tail_bytes: 4096,
            config: json!({}),
            #[cfg(target_os = "linux")]
            fork_servers: None,
        };
        let kill = CancellationToken::new();
        let (pool, _) = Pool::start_with(spec, 1, below, Duration::from_secs(30), &kill)
            .await
            .unwrap();
        Relay {
            dir,
            pool: Arc::new(pool),
            _kill: kill,
        }
    }

    fn call(&self, data: Value) -> tokio::task::JoinHandle<Result<Value, PluginError>> {
        let pool = self.pool.clone();
        tokio::spawn(async move { pool.execute(&data, "test", None).await })
    }

    async fn note(&self, n: u32) -> u64 {
        let log = self.dir.path().join("notes.log");
        let pid = self.call(json!({"op": "note", "n": n, "log": log}));
        pid.await.unwrap().unwrap().as_u64().unwrap()
    }

    fn notes(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("notes.log")).unwrap_or_default()
    }

    fn worker(&self) -> Arc<Worker> {
        self.pool.shared.live_workers().pop().unwrap()
    }

    /// Waits (bounded) until `count` calls are written to the worker.
    async fn wait_queued(&self, count: usize) {
        let worker = self.worker();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while worker.calls().queued() < count {
            assert!(std::time::Instant::now() < deadline, "never {count} queued");
            tokio::task::yield_now().await;
        }
    }
}

/// A `hold` call running (until a byte is sent on the returned socket) and a `note` call
/// with number 2 written behind it.
struct Held {
    conn: tokio::net::TcpStream,
    running: tokio::task::JoinHandle<Result<Value, PluginError>>,
    queued: tokio::task::JoinHandle<Result<Value, PluginError>>,
}

impl Held {
    async fn start(relay: &Relay, exit: bool) -> Held {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let running = relay.call(json!({"op": "hold", "port": port, "exit": exit}));
        let (conn, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .unwrap()
            .unwrap();
        let log = relay.dir.path().join("notes.log");
        let queued = relay.call(json!({"op": "note", "n": 2, "log": log}));
        // Pipelined: written behind the running call, before that one ends.
        relay.wait_queued(2).await;
        Held {
            conn,
            running,
            queued,
        }
    }

    /// Asserts that the queued call (`note` 2) was answered by a worker other than `first`
    /// and ran once.
    async fn queued_ran_once_elsewhere(&mut self, relay: &Relay, first: u64) {
        let second = (&mut self.queued).await.unwrap().unwrap().as_u64().unwrap();
        assert_ne!(second, first, "the queued call ran in the replacement");
        assert_eq!(relay.notes(), "1\n2\n", "each call ran once");
    }

    async fn release(&mut self) {
        tokio::io::AsyncWriteExt::write_all(&mut self.conn, b"x")
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_queued_behind_a_crash_runs_once_in_the_replacement() {
    let relay = Relay::start(Some(Duration::MAX)).await;
    let first = relay.note(1).await;
    let mut held = Held::start(&relay, true).await;
    held.release().await;

    let error = (&mut held.running).await.unwrap().unwrap_err();
    assert!(
        matches!(&error, PluginError::Crashed(m) if m.contains("exit status: 5")),
        "{error:?}"
    );
    held.queued_ran_once_elsewhere(&relay, first).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_queued_behind_one_given_up_runs_once_in_the_replacement() {
    let relay = Relay::start(Some(Duration::MAX)).await;
    let first = relay.note(1).await;
    let mut held = Held::start(&relay, false).await;
    // The running call's caller gives up (its timeout, a cancel): its worker is killed.
    held.running.abort();
    assert!((&mut held.running).await.unwrap_err().is_cancelled());

    held.queued_ran_once_elsewhere(&relay, first).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_call_given_up_stops_its_worker_when_it_comes_up() {
    let relay = Relay::start(Some(Duration::MAX)).await;
    let first = relay.note(1).await;
    let mut held = Held::start(&relay, false).await;
    held.queued.abort();
    assert!((&mut held.queued).await.unwrap_err().is_cancelled());
    held.release().await;

    // The running call is not disturbed by the one behind it.
    let pid = (&mut held.running)
        .await
        .unwrap()
        .unwrap()
        .as_u64()
        .unwrap();
    assert_eq!(pid, first);
    // The abandoned call came up next and its worker was stopped: a new one answers.
    assert_ne!(relay.note(3).await, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_fast_worker_takes_a_call_ahead() {
    for (below, room) in [
        (Some(Duration::MAX), PIPELINE_DEPTH),
        (Some(Duration::ZERO), 1),
        (None, 1),
    ] {
        let relay = Relay::start(below).await;
        // One answered call: the worker's service time is known.
        relay.note(1).await;
        let mut taken = Vec::new();
        while let Pick::Ready(_, reservation) = relay.pool.shared.pick() {
            taken.push(reservation);
            assert!(taken.len() <= PIPELINE_DEPTH, "{below:?}");
        }
        assert_eq!(taken.len(), room, "{below:?}");
        drop(taken);
        assert_eq!(relay.worker().calls().load(), 0, "the room is given back");
    }
}
