//! Hot reload through the real folder watcher, with real Python workers and real Wasm
//! modules: files appear, change, break and disappear while calls run.
//!
//! Every wait is on the manager's generation (bumped when the plugin list changes) or on a
//! socket a plugin connects to, each bounded by a timeout; nothing sleeps to synchronise.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use codex_host::python::{PythonOptions, PythonRuntime};
use codex_host::wasm::{WasmOptions, WasmRuntime};
use codex_host::{ExecutionRequest, FolderWatch, HostConfig, PluginManager};
use codex_plugin::PluginError;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::wasm::modules_dir;

/// Long enough for a debounce, a rescan and a Python worker's start on a busy machine.
const WAIT: Duration = Duration::from_secs(30);

/// A Python plugin that answers its version, holds a call open on request (it connects to
/// the test's port and waits for one byte), and reports its shutdown to a port if given.
const VERSIONED: &str = r#"
import socket
from codexcontinue import PluginInterface

REPORT = REPORT_PORT


class CLASS(PluginInterface):
    def initialize(self):
        self.version = "VERSION"

    def execute(self, data):
        if isinstance(data, dict) and "hold" in data:
            conn = socket.create_connection(("127.0.0.1", data["hold"]))
            conn.recv(1)
            conn.close()
        return {"version": self.version}

    def shutdown(self):
        if REPORT:
            with socket.create_connection(("127.0.0.1", REPORT)) as conn:
                conn.sendall(b"shutdown VERSION")
"#;

fn versioned(class: &str, version: &str, report: Option<u16>) -> String {
    VERSIONED
        .replace("CLASS", class)
        .replace("VERSION", version)
        .replace(
            "REPORT_PORT",
            &report.map_or("None".to_owned(), |p| p.to_string()),
        )
}

/// A watched plugins folder and a manager with both runtimes.
struct Watched {
    dir: TempDir,
    _cache: TempDir,
    manager: PluginManager,
    _watch: FolderWatch,
}

impl Watched {
    /// Writes the files, starts the manager on them and starts watching.
    async fn start(files: &[(&str, &str)]) -> Watched {
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        for (file, contents) in files {
            put(dir.path(), file, contents.as_bytes());
        }
        let python = PythonOptions {
            pool_size: 2,
            shutdown_grace: Duration::from_millis(500),
            ..PythonOptions::default()
        };
        let wasm = WasmOptions {
            default_pool_size: 4,
            ..WasmOptions::default().with_cache_dir(cache.path())
        };
        let manager = PluginManager::builder(HostConfig::new(dir.path()))
            .with_runtime(Arc::new(PythonRuntime::new(python)))
            .with_runtime(Arc::new(WasmRuntime::new(wasm)))
            .start()
            .await;
        let watch = manager.watch().unwrap();
        Watched {
            dir,
            _cache: cache,
            manager,
            _watch: watch,
        }
    }

    fn put(&self, file: &str, contents: &str) {
        put(self.dir.path(), file, contents.as_bytes());
    }

    /// Copies the built Wasm `module` in as plugin `name`.
    fn put_wasm(&self, module: &str, name: &str) {
        let bytes = std::fs::read(modules_dir().join(format!("{module}_plugin.wasm"))).unwrap();
        put(self.dir.path(), &format!("{name}_plugin.wasm"), &bytes);
    }

    fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir.path().join(file)).unwrap();
    }

    async fn call(&self, plugin: &str, data: Value) -> Result<Value, PluginError> {
        call(&self.manager, plugin, data).await
    }

    /// Waits, on generation changes, until `done` holds; panics after [`WAIT`].
    async fn until(&self, what: &str, mut done: impl FnMut(&PluginManager) -> bool) {
        let mut generation = self.manager.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // Marked seen before the check, so a change during the check wakes us.
            generation.borrow_and_update();
            if done(&self.manager) {
                return;
            }
            match tokio::time::timeout_at(deadline, generation.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!(
                    "timed out waiting until {what}; listed: {:?}; load errors: {:?}",
                    names(&self.manager),
                    self.manager.load_errors()
                ),
            }
        }
    }
}

/// Writes beside and renames, as editors and deploy tools do, so no half file is loaded.
fn put(dir: &Path, file: &str, contents: &[u8]) {
    let staging = dir.join(format!(".{file}.partial"));
    std::fs::write(&staging, contents).unwrap();
    std::fs::rename(&staging, dir.join(file)).unwrap();
}

async fn call(manager: &PluginManager, plugin: &str, data: Value) -> Result<Value, PluginError> {
    manager
        .execute(ExecutionRequest::new(plugin, data))
        .await
        .map(|execution| execution.result)
}

fn names(manager: &PluginManager) -> Vec<String> {
    manager.list().iter().map(|e| e.name().to_owned()).collect()
}

fn serves(manager: &PluginManager, plugin: &str) -> bool {
    manager.get(plugin).is_ok()
}

/// Accepts one connection on `listener` within [`WAIT`].
async fn accept(listener: &TcpListener, what: &str) -> tokio::net::TcpStream {
    match tokio::time::timeout(WAIT, listener.accept()).await {
        Ok(Ok((conn, _))) => conn,
        other => panic!("no connection for {what}: {other:?}"),
    }
}

/// Reads what a plugin's `shutdown()` reported.
async fn shutdown_report(listener: &TcpListener) -> String {
    let mut conn = accept(listener, "a shutdown report").await;
    let mut report = String::new();
    tokio::time::timeout(WAIT, conn.read_to_string(&mut report))
        .await
        .unwrap()
        .unwrap();
    report
}

#[tokio::test]
async fn a_new_file_loads_without_an_explicit_reload() {
    let folder = Watched::start(&[]).await;
    assert_eq!(names(&folder.manager), Vec::<String>::new());

    folder.put("fresh_plugin.py", &versioned("FreshPlugin", "1", None));
    folder.put_wasm("word_count", "words");
    folder
        .until("both new files are listed", |m| {
            serves(m, "fresh") && serves(m, "words")
        })
        .await;

    assert_eq!(
        folder.call("fresh", json!(null)).await,
        Ok(json!({"version": "1"}))
    );
    let counted = folder.call("words", json!("a b c")).await.unwrap();
    assert_eq!(counted["words"], 3);
    // The `<name>_plugin` alias comes with a plugin loaded by the watcher too.
    assert_eq!(
        folder.call("fresh_plugin", json!(null)).await,
        Ok(json!({"version": "1"}))
    );
    assert_eq!(folder.manager.load_errors(), []);
}

#[tokio::test]
async fn a_changed_python_file_replaces_the_plugin_while_calls_keep_succeeding() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let folder =
        Watched::start(&[("swap_plugin.py", &versioned("SwapPlugin", "1", Some(port)))]).await;
    assert_eq!(
        folder.call("swap", json!(null)).await,
        Ok(json!({"version": "1"}))
    );

    // Callers run before, during and after the swap; each stops once it has seen the new
    // version a few times (bounded, in case it never comes).
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let manager = folder.manager.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..20_000 {
                    let result = call(&manager, "swap", json!(null)).await;
                    let done = result == Ok(json!({"version": "2"}));
                    seen.push(result);
                    if done
                        && seen
                            .iter()
                            .filter(|r| **r == Ok(json!({"version": "2"})))
                            .count()
                            >= 3
                    {
                        break;
                    }
                }
                seen
            })
        })
        .collect();
    folder.put("swap_plugin.py", &versioned("SwapPlugin", "2", Some(port)));

    for caller in callers {
        let seen = tokio::time::timeout(WAIT, caller).await.unwrap().unwrap();
        let failures: Vec<_> = seen.iter().filter(|r| r.is_err()).collect();
        assert_eq!(failures, Vec::<&Result<Value, PluginError>>::new());
        // One caller's calls are sequential: once it reached the new version, it stays.
        let first_new = seen
            .iter()
            .position(|r| *r == Ok(json!({"version": "2"})))
            .expect("the new version answered");
        assert!(
            seen[first_new..]
                .iter()
                .all(|r| *r == Ok(json!({"version": "2"}))),
            "the old version answered after the new one"
        );
    }
    assert_eq!(
        folder.call("swap_plugin", json!(null)).await,
        Ok(json!({"version": "2"}))
    );
    // Both of the old version's workers were shut down.
    assert_eq!(shutdown_report(&listener).await, "shutdown 1");
    assert_eq!(shutdown_report(&listener).await, "shutdown 1");
}

#[tokio::test]
async fn in_flight_calls_finish_on_the_old_instance_which_is_then_shut_down() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let folder = Watched::start(&[
        ("held_plugin.py", &versioned("HeldPlugin", "1", Some(port))),
        ("held_plugin.toml", "[python]\npool_size = 1\n"),
    ])
    .await;
    let old = folder.manager.get("held").unwrap();

    let manager = folder.manager.clone();
    let held = tokio::spawn(async move { call(&manager, "held", json!({ "hold": port })).await });
    // The call is inside the old worker once it connects.
    let mut conn = accept(&listener, "the held call").await;
    assert_eq!(old.in_flight(), 1);

    folder.put("held_plugin.py", &versioned("HeldPlugin", "2", Some(port)));
    folder
        .until("the new version is registered", |m| {
            m.get("held").is_ok_and(|e| !Arc::ptr_eq(&e, &old))
        })
        .await;
    // New calls go to the new version while the old one still holds its call.
    assert_eq!(
        folder.call("held", json!(null)).await,
        Ok(json!({"version": "2"}))
    );
    assert!(!held.is_finished());
    // The old entry is retiring: its drain holds every free slot, yet one call still runs.
    // `in_flight` counted taken slots and said 64 here.
    assert_eq!(old.in_flight(), 1);

    conn.write_all(b"x").await.unwrap();
    let finished = tokio::time::timeout(WAIT, held).await.unwrap().unwrap();
    assert_eq!(finished, Ok(json!({"version": "1"})));
    assert_eq!(shutdown_report(&listener).await, "shutdown 1");
    // Retired, slots closed: nothing runs any more.
    assert_eq!(old.in_flight(), 0);
}

#[tokio::test]
async fn a_removed_file_unloads() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let folder =
        Watched::start(&[("gone_plugin.py", &versioned("GonePlugin", "1", Some(port)))]).await;
    folder.put_wasm("word_count", "gone_words");
    folder
        .until("the Wasm plugin is listed", |m| serves(m, "gone_words"))
        .await;
    assert_eq!(
        folder.call("gone", json!(null)).await,
        Ok(json!({"version": "1"}))
    );

    folder.remove("gone_plugin.py");
    folder.remove("gone_words_plugin.wasm");
    folder
        .until("both plugins are gone", |m| {
            !serves(m, "gone") && !serves(m, "gone_words")
        })
        .await;
    for plugin in ["gone", "gone_plugin", "gone_words"] {
        let err = folder.call(plugin, json!("a")).await.unwrap_err();
        assert!(
            matches!(err, PluginError::NotFound { .. }),
            "{plugin}: {err:?}"
        );
    }
    assert_eq!(shutdown_report(&listener).await, "shutdown 1");
    assert_eq!(shutdown_report(&listener).await, "shutdown 1");
    assert_eq!(folder.manager.load_errors(), []);
}

#[tokio::test]
async fn a_replacement_that_fails_to_load_leaves_the_previous_version_serving() {
    let folder = Watched::start(&[("keep_plugin.py", &versioned("KeepPlugin", "1", None))]).await;
    assert_eq!(
        folder.call("keep", json!(null)).await,
        Ok(json!({"version": "1"}))
    );

    folder.put(
        "keep_plugin.py",
        "from codexcontinue import PluginInterface\n\nclass KeepPlugin(PluginInterface:\n",
    );
    folder
        .until("the broken file is a load error", |m| {
            !m.load_errors().is_empty()
        })
        .await;
    let errors = folder.manager.load_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].plugin.as_deref(), Some("keep"));
    assert!(errors[0].file.ends_with("keep_plugin.py"), "{errors:?}");
    assert!(errors[0].error.contains("SyntaxError"), "{errors:?}");
    assert_eq!(
        folder.call("keep", json!(null)).await,
        Ok(json!({"version": "1"}))
    );

    // A manifest with a misspelt key breaks the next version the same way.
    folder.put("keep_plugin.py", &versioned("KeepPlugin", "2", None));
    folder.put("keep_plugin.toml", "pool_sise = 2\n");
    folder
        .until("the bad manifest is the load error", |m| {
            m.load_errors()
                .iter()
                .any(|e| e.error.contains("pool_sise"))
        })
        .await;
    assert_eq!(
        folder.call("keep", json!(null)).await,
        Ok(json!({"version": "1"}))
    );

    folder.put("keep_plugin.toml", "[python]\npool_size = 2\n");
    folder
        .until("the fixed version serves", |m| m.load_errors().is_empty())
        .await;
    assert_eq!(
        folder.call("keep", json!(null)).await,
        Ok(json!({"version": "2"}))
    );
}

#[tokio::test]
async fn a_bad_manifest_beside_a_plugin_is_a_load_error_naming_the_key() {
    let folder = Watched::start(&[
        ("typo_plugin.py", &versioned("TypoPlugin", "1", None)),
        (
            "typo_plugin.toml",
            "description = \"ok\"\ntimeout_msec = 100\n",
        ),
        ("fine_plugin.py", &versioned("FinePlugin", "1", None)),
    ])
    .await;
    let errors = folder.manager.load_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].plugin.as_deref(), Some("typo"));
    assert!(errors[0].error.contains("timeout_msec"), "{errors:?}");
    assert!(errors[0].error.contains("typo_plugin.toml"), "{errors:?}");
    assert!(!serves(&folder.manager, "typo"));
    assert_eq!(
        folder.call("fine", json!(null)).await,
        Ok(json!({"version": "1"}))
    );
}

// A manifest whose plugin file is missing (or misnamed) was reported as "no runtime for
// '.toml' plugins", which sent people looking for a missing feature instead of a file.
#[tokio::test]
async fn a_manifest_without_its_plugin_file_is_a_load_error_naming_the_files_looked_for() {
    let folder = Watched::start(&[("lonely_plugin.toml", "description = \"alone\"\n")]).await;
    let errors = folder.manager.load_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].plugin.as_deref(), Some("lonely"));
    let error = &errors[0].error;
    assert!(error.contains("lonely_plugin.toml"), "{error}");
    assert!(error.contains("lonely_plugin.py"), "{error}");
    assert!(error.contains("lonely_plugin.wasm"), "{error}");
    assert!(error.contains("[mcp]"), "{error}");
    assert!(!error.contains("no runtime"), "{error}");

    // The plugin file arrives: the manifest is its, and the error goes.
    folder.put("lonely_plugin.py", &versioned("LonelyPlugin", "1", None));
    folder
        .until("the plugin serves", |m| {
            serves(m, "lonely") && m.load_errors().is_empty()
        })
        .await;
    assert_eq!(
        folder.manager.get("lonely").unwrap().info.description,
        "alone"
    );
}

/// What the load test's callers saw, per plugin.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    not_found: usize,
    other: Vec<String>,
}

#[tokio::test]
async fn calls_keep_succeeding_while_files_come_and_go() {
    const CALLERS: usize = 6;
    /// A bound on each caller, far above what the churn below takes.
    const MAX_CALLS_PER_CALLER: usize = 500_000;
    let folder = Watched::start(&[
        ("steady_plugin.py", &versioned("SteadyPlugin", "1", None)),
        ("churn_plugin.py", &versioned("ChurnPlugin", "0", None)),
    ])
    .await;
    folder.put_wasm("word_count", "steady_words");
    folder
        .until("the Wasm plugin is listed", |m| serves(m, "steady_words"))
        .await;

    // Plugins that are never removed must never fail; the transient ones may be missing.
    let plugins = [
        "steady",
        "steady_words",
        "churn",
        "transient",
        "transient_words",
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..CALLERS)
        .map(|n| {
            let manager = folder.manager.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tally: BTreeMap<&str, Tally> = BTreeMap::new();
                for i in 0..MAX_CALLS_PER_CALLER {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let plugin = plugins[(n + i) % plugins.len()];
                    let t = tally.entry(plugin).or_default();
                    match call(&manager, plugin, json!("a b")).await {
                        Ok(_) => t.ok += 1,
                        Err(PluginError::NotFound { .. }) => t.not_found += 1,
                        Err(e) => t.other.push(e.to_string()),
                    }
                }
                tally
            })
        })
        .collect();

    for round in 1..=3 {
        folder.put(
            "transient_plugin.py",
            &versioned("TransientPlugin", "1", None),
        );
        folder.put_wasm("word_count", "transient_words");
        folder.put(
            "churn_plugin.py",
            &versioned("ChurnPlugin", &round.to_string(), None),
        );
        folder
            .until("the transient plugins and the new churn are in", |m| {
                serves(m, "transient") && serves(m, "transient_words")
            })
            .await;
        folder.remove("transient_plugin.py");
        folder.remove("transient_words_plugin.wasm");
        folder
            .until("the transient plugins are gone", |m| {
                !serves(m, "transient") && !serves(m, "transient_words")
            })
            .await;
    }
    assert_eq!(
        folder.call("churn", json!(null)).await,
        Ok(json!({"version": "3"}))
    );
    stop.store(true, Ordering::Relaxed);

    let mut total: BTreeMap<&str, Tally> = BTreeMap::new();
    for caller in callers {
        let tally = tokio::time::timeout(Duration::from_secs(120), caller)
            .await
            .unwrap()
            .unwrap();
        for (plugin, t) in tally {
            let sum = total.entry(plugin).or_default();
            sum.ok += t.ok;
            sum.not_found += t.not_found;
            sum.other.extend(t.other);
        }
    }
    println!("{total:#?}");
    let calls: usize = total
        .values()
        .map(|t| t.ok + t.not_found + t.other.len())
        .sum();
    assert!(
        calls < CALLERS * MAX_CALLS_PER_CALLER,
        "the churn outlasted the callers"
    );
    for plugin in ["steady", "steady_words", "churn"] {
        let t = &total[plugin];
        assert!(t.other.is_empty() && t.not_found == 0, "{plugin}: {t:?}");
        assert!(t.ok > 0);
    }
    for plugin in ["transient", "transient_words"] {
        let t = &total[plugin];
        assert!(t.other.is_empty(), "{plugin}: {t:?}");
        assert!(t.ok > 0 && t.not_found > 0, "{plugin} came and went: {t:?}");
    }
}
