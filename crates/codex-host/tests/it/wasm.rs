//! WebAssembly plugins through the real `PluginManager`, with modules built from
//! `examples/plugins` by `scripts/build-wasm-examples.sh`.
//!
//! The modules are looked up in `$CODEX_WASM_PLUGINS_DIR`, else
//! `$HOME/.cache/codexcontinue/wasm-plugins`; when one is missing or older than its sources,
//! the script is run (bounded by `timeout`), and a failed build fails the tests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use codex_host::wasm::{WasmOptions, WasmRuntime};
use codex_host::{ExecutionRequest, HostConfig, PluginManager, PluginSettings};
use codex_plugin::{PluginError, PluginKind};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The example crates, each built to `<crate>_plugin.wasm`.
const MODULES: [&str; 3] = ["word_count", "json_transform", "hostile"];

/// How long building the examples may take before the tests give up (a cold build of
/// `extism-pdk` and its dependencies takes well under a minute).
const BUILD_LIMIT_SECS: u32 = 900;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder holding the built modules, built once per test run when needed.
pub(crate) fn modules_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(build_modules) {
        Ok(dir) => dir,
        Err(error) => panic!("the example Wasm plugins are not available: {error}"),
    }
}

fn build_modules() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("CODEX_WASM_PLUGINS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
            PathBuf::from(home).join(".cache/codexcontinue/wasm-plugins")
        }
    };
    let sources = newest_source()?;
    let fresh = MODULES.iter().all(|m| {
        modified(&dir.join(format!("{m}_plugin.wasm"))).is_some_and(|built| built >= sources)
    });
    if fresh {
        return Ok(dir);
    }
    let script = workspace_root().join("scripts/build-wasm-examples.sh");
    let status = std::process::Command::new("timeout")
        .arg(BUILD_LIMIT_SECS.to_string())
        .arg("bash")
        .arg(&script)
        .arg(&dir)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!("{} failed: {status}", script.display()));
    }
    for m in MODULES {
        let module = dir.join(format!("{m}_plugin.wasm"));
        if !module.is_file() {
            return Err(format!("{} is missing after the build", module.display()));
        }
    }
    Ok(dir)
}

/// The latest modification among the examples' sources and manifests.
fn newest_source() -> Result<SystemTime, String> {
    fn walk(dir: &Path, newest: &mut SystemTime) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() && name != "target" {
                walk(&path, newest)?;
            } else if (name.ends_with(".rs") || name.ends_with(".toml") || name == "Cargo.lock")
                && let Some(time) = modified(&path)
            {
                *newest = (*newest).max(time);
            }
        }
        Ok(())
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    walk(&workspace_root().join("examples/plugins"), &mut newest)
        .map_err(|e| format!("cannot read examples/plugins: {e}"))?;
    Ok(newest)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A plugins folder and a compiled-module cache of its own.
struct Fixture {
    plugins: TempDir,
    cache: TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            plugins: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// Copies the built `module` into the folder as plugin `name`.
    fn add(&self, module: &str, name: &str) -> &Self {
        let from = modules_dir().join(format!("{module}_plugin.wasm"));
        std::fs::copy(
            &from,
            self.plugins.path().join(format!("{name}_plugin.wasm")),
        )
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
        self
    }

    fn write(&self, file: &str, contents: impl AsRef<[u8]>) -> &Self {
        std::fs::write(self.plugins.path().join(file), contents).unwrap();
        self
    }

    fn runtime(&self) -> Arc<WasmRuntime> {
        let options = WasmOptions {
            default_pool_size: 4,
            ..WasmOptions::default().with_cache_dir(self.cache.path())
        };
        Arc::new(WasmRuntime::new(options))
    }

    async fn start(&self) -> PluginManager {
        self.start_with(HostConfig::new(self.plugins.path())).await
    }

    async fn start_with(&self, config: HostConfig) -> PluginManager {
        PluginManager::builder(config)
            .with_runtime(self.runtime())
            .start()
            .await
    }
}

async fn call(manager: &PluginManager, plugin: &str, data: Value) -> Result<Value, PluginError> {
    manager
        .execute(ExecutionRequest::new(plugin, data))
        .await
        .map(|execution| execution.result)
}

async fn check(manager: &PluginManager, plugin: &str, data: Value, expected: Value) {
    let got = call(manager, plugin, data.clone()).await;
    assert_eq!(got, Ok(expected), "{plugin}({data})");
}

#[tokio::test]
async fn loads_lists_and_describes() {
    let fixture = Fixture::new();
    fixture
        .add("word_count", "word_count")
        .add("json_transform", "json_transform")
        .write(
            "json_transform_plugin.toml",
            "description = \"Reshapes JSON (from the manifest)\"\nauthor = \"Manifest Author\"\n",
        );
    let manager = fixture.start().await;
    assert_eq!(manager.load_errors(), []);

    let names: Vec<_> = manager.list().iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(names, ["json_transform", "word_count"]);

    let word_count = manager.get("word_count").unwrap();
    assert_eq!(word_count.kind, PluginKind::Wasm);
    assert!(word_count.aliases.contains(&"word_count_plugin".to_owned()));
    assert_eq!(
        word_count.info.description,
        "Counts the words, lines and characters of a text."
    );
    assert_eq!(word_count.info.version, "1.0.0");
    assert_eq!(word_count.info.category, "text");
    assert_eq!(word_count.info.example, Some(json!("the quick brown fox")));
    assert!(word_count.info.input_schema.get("oneOf").is_some());

    // The manifest's metadata wins over `describe`; what it does not name comes from `describe`.
    let transform = manager.get("json_transform").unwrap();
    assert_eq!(
        transform.info.description,
        "Reshapes JSON (from the manifest)"
    );
    assert_eq!(transform.info.author, "Manifest Author");
    assert_eq!(transform.info.version, "1.0.0");
    assert_eq!(transform.info.category, "data");
    manager.shutdown().await;
}

#[tokio::test]
async fn executes_with_json_in_and_out() {
    let fixture = Fixture::new();
    fixture
        .add("word_count", "word_count")
        .add("json_transform", "json_transform")
        .add("hostile", "hostile");
    let manager = fixture.start().await;
    assert_eq!(manager.load_errors(), []);

    let counts = |words: u64, lines: u64, characters: u64| json!({"words": words, "lines": lines, "characters": characters});
    check(&manager, "word_count", json!("a b c"), counts(3, 1, 5)).await;
    check(
        &manager,
        "word_count_plugin",
        json!({"text": "one two\nthree"}),
        counts(3, 2, 13),
    )
    .await;
    check(&manager, "word_count", json!(""), counts(0, 0, 0)).await;
    check(
        &manager,
        "json_transform",
        json!({"op": "flatten", "value": {"a": {"b": 1}, "c": [true]}}),
        json!({"a.b": 1, "c.0": true}),
    )
    .await;
    check(
        &manager,
        "json_transform",
        json!("{\"x\": [1]}"),
        json!({"x.0": 1}),
    )
    .await;
    check(
        &manager,
        "json_transform",
        json!({"op": "pick", "value": {"a": {"b": 2}, "c": 3}, "fields": ["a.b"]}),
        json!({"a.b": 2}),
    )
    .await;
    // Output that is not JSON comes back as a JSON string.
    check(
        &manager,
        "hostile",
        json!("text"),
        json!("plain text, not JSON"),
    )
    .await;

    // An input the module's `describe` schema does not allow is refused before the module
    // sees it, saying where.
    let err = call(&manager, "word_count", json!({"txt": "a b"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidInput(m) if m.contains("does not match the schema of 'word_count'")),
        "{err:?}"
    );
    let err = call(&manager, "json_transform", json!({"op": "nope"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidInput(m) if m.starts_with("the input at /op does not match")),
        "{err:?}"
    );
    // An error the module returns (here for a string, which the schema lets through to the
    // module) is the plugin's own failure with its message, and the plugin keeps working.
    let err = call(&manager, "json_transform", json!("nope"))
        .await
        .unwrap_err();
    assert!(matches!(&err, PluginError::Raised { .. }), "{err:?}");
    check(
        &manager,
        "word_count",
        json!("still works"),
        counts(2, 1, 11),
    )
    .await;
    manager.shutdown().await;
}

#[tokio::test]
async fn thirty_two_concurrent_calls() {
    let fixture = Fixture::new();
    fixture.add("word_count", "word_count");
    let manager = fixture.start().await;
    let calls = (1..=32).map(|n| {
        let manager = manager.clone();
        let text = vec!["w"; n].join(" ");
        tokio::spawn(async move { (n, call(&manager, "word_count", json!(text)).await) })
    });
    for joined in futures::future::join_all(calls).await {
        let (n, result) = joined.unwrap();
        assert_eq!(result.unwrap()["words"], json!(n));
    }
    manager.shutdown().await;
}

#[tokio::test]
async fn infinite_loop_stops_at_its_timeout_and_the_next_call_works() {
    let fixture = Fixture::new();
    fixture
        .add("hostile", "hostile")
        .add("word_count", "word_count")
        // One instance: the next call can only run once the loop has really stopped.
        .write(
            "hostile_plugin.toml",
            "timeout_ms = 500\n[wasm]\npool_size = 1\n",
        );
    let manager = fixture.start().await;

    let started = Instant::now();
    let (looped, counted) = tokio::join!(
        call(&manager, "hostile", json!("loop")),
        call(&manager, "word_count", json!("others keep working")),
    );
    assert!(
        matches!(looped, Err(PluginError::Timeout { ref plugin, after }) if plugin == "hostile" && after == Duration::from_millis(500)),
        "{looped:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(counted.unwrap()["words"], json!(3));
    check(
        &manager,
        "hostile",
        json!("echo"),
        json!({"input": "echo", "initialized": true}),
    )
    .await;
    manager.shutdown().await;
}

#[tokio::test]
async fn the_host_deadline_stops_a_loop_before_the_modules_own_timeout() {
    // Regression guard: a config-file timeout shorter than the manifest's must stop the Wasm
    // code itself (through its cancel handle), not only stop waiting for it; with one
    // instance, the follow-up call would otherwise queue behind the loop for a minute.
    let fixture = Fixture::new();
    fixture.add("hostile", "hostile").write(
        "hostile_plugin.toml",
        "timeout_ms = 60000\n[wasm]\npool_size = 1\n",
    );
    let mut config = HostConfig::new(fixture.plugins.path());
    config.plugins.insert(
        "hostile".into(),
        PluginSettings {
            timeout_ms: Some(1000),
            ..PluginSettings::default()
        },
    );
    let manager = fixture.start_with(config).await;
    let err = call(&manager, "hostile", json!("loop")).await.unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
    check(
        &manager,
        "hostile",
        json!("echo"),
        json!({"input": "echo", "initialized": true}),
    )
    .await;
    manager.shutdown().await;
}

#[tokio::test]
async fn memory_bomb_fails_clearly_and_others_keep_working() {
    let fixture = Fixture::new();
    fixture
        .add("hostile", "hostile")
        .add("word_count", "word_count")
        .write("hostile_plugin.toml", "[wasm]\nmemory_limit_mb = 32\n");
    let manager = fixture.start().await;
    let (bombed, counted) = tokio::join!(
        call(&manager, "hostile", json!("oom")),
        call(&manager, "word_count", json!("a b")),
    );
    match bombed {
        Err(PluginError::Crashed(message)) => {
            assert!(message.contains("memory limit of 32 MiB"), "{message}")
        }
        other => panic!("expected a memory-limit crash, got {other:?}"),
    }
    assert_eq!(counted.unwrap()["words"], json!(2));
    check(
        &manager,
        "hostile",
        json!("echo"),
        json!({"input": "echo", "initialized": true}),
    )
    .await;
    manager.shutdown().await;
}

#[tokio::test]
async fn huge_output_hits_the_output_cap() {
    let fixture = Fixture::new();
    fixture.add("hostile", "hostile");
    let manager = fixture.start().await;
    let err = call(&manager, "hostile", json!("big")).await.unwrap_err();
    assert!(
        matches!(err, PluginError::OutputTooLarge { limit, .. } if limit == 1024 * 1024),
        "{err:?}"
    );
    check(
        &manager,
        "hostile",
        json!("echo"),
        json!({"input": "echo", "initialized": true}),
    )
    .await;
    manager.shutdown().await;
}

#[tokio::test]
async fn a_trap_is_a_crash_and_the_next_call_works() {
    let fixture = Fixture::new();
    fixture.add("hostile", "hostile");
    let manager = fixture.start().await;
    // The module's panic hook handed its message and location to the host before the trap.
    let err = call(&manager, "hostile", json!("trap")).await.unwrap_err();
    assert!(
        matches!(&err, PluginError::Crashed(m) if m.starts_with("plugin 'hostile' panicked at hostile/src/lib.rs:")
            && m.contains("the hostile plugin panicked on purpose")),
        "{err:?}"
    );
    let err = call(&manager, "hostile", json!("fail")).await.unwrap_err();
    assert_eq!(
        err,
        PluginError::raised(None, "the hostile plugin refused on purpose")
    );
    check(
        &manager,
        "hostile",
        json!("echo"),
        json!({"input": "echo", "initialized": true}),
    )
    .await;
    manager.shutdown().await;
}

#[tokio::test]
async fn bad_files_land_in_load_errors_while_others_load() {
    let fixture = Fixture::new();
    fixture
        .add("word_count", "word_count")
        // The smallest valid module: no exports at all.
        .write("no_execute_plugin.wasm", b"\0asm\x01\0\0\0")
        .write("garbage_plugin.wasm", b"this is not WebAssembly")
        .add("hostile", "bad_grant")
        .write(
            "bad_grant_plugin.toml",
            "[wasm.allowed_paths]\n\"/no/such/folder\" = \"/data\"\n",
        );
    let manager = fixture.start().await;

    let names: Vec<_> = manager.list().iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(names, ["word_count"]);
    let errors = manager.load_errors();
    let error_of = |plugin: &str| {
        errors
            .iter()
            .find(|e| e.plugin.as_deref() == Some(plugin))
            .map(|e| e.error.clone())
            .unwrap_or_else(|| panic!("no load error for {plugin}: {errors:?}"))
    };
    assert_eq!(error_of("no_execute"), "missing export execute");
    assert!(
        error_of("garbage").contains("not a loadable WebAssembly module"),
        "{errors:?}"
    );
    assert!(
        error_of("bad_grant").contains("/no/such/folder"),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    check(
        &manager,
        "word_count",
        json!("a"),
        json!({"words": 1, "lines": 1, "characters": 1}),
    )
    .await;
    manager.shutdown().await;
}

#[tokio::test]
async fn nothing_is_granted_unless_the_manifest_says_so() {
    let fixture = Fixture::new();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("note.txt"), "hello from the host").unwrap();
    fixture
        .add("hostile", "closed")
        .add("hostile", "open")
        .write(
            "open_plugin.toml",
            format!(
                "[wasm.allowed_paths]\n\"{}\" = \"/data\"\n[config]\ngreeting = \"hi\"\nretries = 3\n",
                data.path().display()
            ),
        );
    let manager = fixture.start().await;
    assert_eq!(manager.load_errors(), []);

    let read = json!({"mode": "read", "path": "/data/note.txt"});
    let err = call(&manager, "closed", read.clone()).await.unwrap_err();
    assert!(
        matches!(&err, PluginError::Raised { message, .. } if message.contains("cannot read /data/note.txt")),
        "{err:?}"
    );
    check(&manager, "open", read, json!("hello from the host")).await;

    check(
        &manager,
        "closed",
        json!({"mode": "config", "key": "greeting"}),
        Value::Null,
    )
    .await;
    check(
        &manager,
        "open",
        json!({"mode": "config", "key": "greeting"}),
        json!("hi"),
    )
    .await;
    check(
        &manager,
        "open",
        json!({"mode": "config", "key": "retries"}),
        json!("3"),
    )
    .await;

    // Refused before any connection is attempted, so this sends no traffic.
    let err = call(
        &manager,
        "open",
        json!({"mode": "http", "url": "http://127.0.0.1:9/"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, PluginError::Raised { message: m, .. } if m.contains("is not allowed")),
        "{err:?}"
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn initialize_and_shutdown_exports_run() {
    let fixture = Fixture::new();
    let out = tempfile::tempdir().unwrap();
    fixture.add("hostile", "hostile").write(
        "hostile_plugin.toml",
        format!(
            "[wasm.allowed_paths]\n\"{}\" = \"/out\"\n[config]\nshutdown_marker = \"/out/shutdown.txt\"\n",
            out.path().display()
        ),
    );
    let manager = fixture.start().await;
    check(
        &manager,
        "hostile",
        json!("echo"),
        json!({"input": "echo", "initialized": true}),
    )
    .await;
    let marker = out.path().join("shutdown.txt");
    assert!(!marker.exists());
    manager.shutdown().await;
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "shut down");
}

#[tokio::test]
async fn the_compiled_module_cache_survives_a_restart() {
    let fixture = Fixture::new();
    fixture.add("word_count", "word_count");
    let manager = fixture.start().await;
    check(
        &manager,
        "word_count",
        json!("a"),
        json!({"words": 1, "lines": 1, "characters": 1}),
    )
    .await;
    manager.shutdown().await;

    let before = compiled_modules(fixture.cache.path());
    assert!(
        !before.is_empty(),
        "nothing cached in {}",
        fixture.cache.path().display()
    );

    // A restart finds every module in the cache: nothing is compiled or written again.
    let manager = fixture.start().await;
    check(
        &manager,
        "word_count",
        json!("a b"),
        json!({"words": 2, "lines": 1, "characters": 3}),
    )
    .await;
    manager.shutdown().await;
    assert_eq!(compiled_modules(fixture.cache.path()), before);
}

/// Every compiled module in the cache with its modification time (wasmtime's `.stats`
/// side files are left out: they change on every hit).
fn compiled_modules(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    fn walk(dir: &Path, found: &mut Vec<(PathBuf, SystemTime)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_none()
                && let Some(time) = modified(&path)
            {
                found.push((path, time));
            }
        }
    }
    let mut found = Vec::new();
    walk(&dir.join("compiled"), &mut found);
    found.sort();
    found
}

#[tokio::test]
async fn a_cancelled_loop_is_interrupted_and_the_next_call_works() {
    let fixture = Fixture::new();
    // One instance and a minute of timeout: only an interrupt frees the instance in time.
    fixture.add("hostile", "hostile").write(
        "hostile_plugin.toml",
        "timeout_ms = 60000\n[wasm]\npool_size = 1\n",
    );
    let manager = fixture.start().await;
    check(
        &manager,
        "hostile",
        json!("echo"),
        json!({"input": "echo", "initialized": true}),
    )
    .await;
    let (started, mut looping_reported) = tokio::sync::mpsc::unbounded_channel();
    let request = ExecutionRequest::new("hostile", json!("loop")).with_progress(Arc::new(
        move |report: codex_plugin::Progress| {
            let _ = started.send(report);
        },
    ));
    let cancel = request.cancel.clone();
    let looping = tokio::spawn({
        let manager = manager.clone();
        async move { manager.execute(request).await }
    });
    // The module says it is looping just before it spins: the cancel reaches a running loop.
    let report = tokio::time::timeout(Duration::from_secs(10), looping_reported.recv())
        .await
        .expect("the module began its loop")
        .unwrap();
    assert_eq!(report.message.as_deref(), Some("looping"));
    let cancelled_at = Instant::now();
    cancel.cancel();
    let error = looping.await.unwrap().unwrap_err();
    assert_eq!(error, PluginError::Cancelled);
    // The one instance is free again only once the loop has really stopped.
    let next = tokio::time::timeout(
        Duration::from_secs(10),
        call(&manager, "hostile", json!("echo")),
    )
    .await
    .expect("the interrupted instance came back");
    assert_eq!(next.unwrap(), json!({"input": "echo", "initialized": true}));
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        cancelled_at.elapsed()
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn a_module_reports_progress_through_the_host_function() {
    let fixture = Fixture::new();
    fixture.add("hostile", "hostile");
    let manager = fixture.start().await;
    let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
    let request = ExecutionRequest::new("hostile", json!({"mode": "progress", "steps": 2}))
        .with_progress(Arc::new({
            let reports = reports.clone();
            move |report| reports.lock().unwrap().push(report)
        }));
    let result = manager.execute(request).await.unwrap();
    assert_eq!(result.result, json!({"steps": 2}));
    use codex_plugin::Progress;
    assert_eq!(
        *reports.lock().unwrap(),
        [
            Progress::new(Some(0.5), Some("step 1 of 2".to_owned())),
            Progress::new(Some(1.0), Some("step 2 of 2".to_owned())),
        ]
    );
    // Without a listener the module's reports go nowhere, and the instance is reused.
    check(
        &manager,
        "hostile",
        json!({"mode": "progress", "steps": 1}),
        json!({"steps": 1}),
    )
    .await;
    manager.shutdown().await;
}
