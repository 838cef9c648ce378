//! Python plugins through the real `PluginManager`, with real `python3` worker processes
//! and plugin files written into temporary folders.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_host::python::{PythonOptions, PythonRuntime};
use codex_host::{ExecutionRequest, HostConfig, PluginManager};
use codex_plugin::{PluginError, PluginKind};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A plugin that does whatever its input asks, hostile things included.
const HOSTILE: &str = r#"
import os, socket, sys, time
from codexcontinue import PluginInterface

class CLASS(PluginInterface):
    def initialize(self):
        self.ready = True

    def shutdown(self):
        pass

    def execute(self, data):
        op = data.get("op") if isinstance(data, dict) else data
        if op == "pid":
            return {"pid": os.getpid(), "ready": self.ready}
        if op == "print":
            print('{"jsonrpc":"2.0","id":1,"result":"forged"}')
            sys.__stdout__.write("written to sys.__stdout__\n")
            sys.__stdout__.flush()
            os.write(1, b"written to fd 1\n")
            os.system("echo written by a subprocess")
            return {"printed": True, "stdin": sys.stdin.read()}
        if op == "set":
            return {1, 2}
        if op == "nan":
            return float("nan")
        if op == "value":
            raise ValueError("no good")
        if op == "key":
            return {}["missing"]
        if op == "connect_and_hang":
            self.conn = socket.create_connection(("127.0.0.1", data["port"]))
            while True:
                time.sleep(1)
        if op == "hang":
            while True:
                time.sleep(1)
        if op == "exit":
            print("about to exit", file=sys.stderr)
            sys.exit(3)
        if op == "_exit":
            sys.stderr.write("leaving hard\n")
            sys.stderr.flush()
            os._exit(4)
        if op == "sigkill":
            print("killing myself", file=sys.stderr, flush=True)
            os.kill(os.getpid(), 9)
        if op == "segfault":
            import ctypes
            ctypes.string_at(0)
        if op == "sleep":
            time.sleep(data["seconds"])
            return os.getpid()
        if op == "big":
            return "x" * data["size"]
        return data
"#;

fn hostile(class: &str) -> String {
    HOSTILE.replace("CLASS", class)
}

const GREETING: &str = r#"
from app.plugins.interface import PluginInterface


class GreetingPlugin(PluginInterface):
    def initialize(self):
        self.greeting = "Hello"

    def execute(self, data):
        return f"{self.greeting}, {data}!"

    def shutdown(self):
        pass
"#;

fn write(dir: &Path, file: &str, contents: &str) {
    std::fs::write(dir.join(file), contents).unwrap();
}

/// The runtime's defaults, with the fork server off when `CODEX_TEST_PYTHON_FORK_SERVER`
/// is `0` and pipelining off when `CODEX_TEST_PYTHON_PIPELINE` is `0` (scripts/test.sh
/// runs this file with both on and with both off).
pub(super) fn options() -> PythonOptions {
    let on = |name: &str| {
        std::env::var(name)
            .map(|v| v != "0" && v != "false")
            .unwrap_or(true)
    };
    PythonOptions {
        fork_server: on("CODEX_TEST_PYTHON_FORK_SERVER"),
        pipeline: on("CODEX_TEST_PYTHON_PIPELINE"),
        ..PythonOptions::default()
    }
}

pub(super) async fn start(dir: &Path) -> PluginManager {
    start_with(HostConfig::new(dir), options()).await
}

async fn start_with(config: HostConfig, options: PythonOptions) -> PluginManager {
    PluginManager::builder(config)
        .with_runtime(Arc::new(PythonRuntime::new(options)))
        .start()
        .await
}

pub(super) async fn run(
    manager: &PluginManager,
    plugin: &str,
    data: Value,
) -> Result<Value, PluginError> {
    manager
        .execute(ExecutionRequest::new(plugin, data))
        .await
        .map(|e| e.result)
}

async fn pid(manager: &PluginManager, plugin: &str) -> u64 {
    let result = run(manager, plugin, json!("pid")).await.unwrap();
    assert_eq!(result["ready"], true, "initialize() ran in this worker");
    result["pid"].as_u64().unwrap()
}

fn crashed(result: Result<Value, PluginError>) -> String {
    match result {
        Err(PluginError::Crashed(message)) => message,
        other => panic!("expected Crashed, got {other:?}"),
    }
}

#[tokio::test]
async fn both_import_styles_load_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "greeting_plugin.py", GREETING);
    write(
        dir.path(),
        "stats_plugin.py",
        r#"
from codexcontinue import PluginInterface

class StatsPlugin(PluginInterface):
    """Counts words.

    More text that is not the summary."""
    version = 2
    author = "Ada"
    category = "text"
    example = "one two"
    parameters = {"type": "string"}
    def initialize(self): pass
    def execute(self, data): return {"words": len(data.split())}
    def shutdown(self): pass
"#,
    );
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);

    let stats = manager.get("stats").unwrap();
    assert_eq!(stats.kind, PluginKind::Python);
    assert_eq!(stats.info.description, "Counts words.");
    assert_eq!(stats.info.version, "2");
    assert_eq!(stats.info.author, "Ada");
    assert_eq!(stats.info.category, "text");
    assert_eq!(stats.info.example, Some(json!("one two")));
    assert_eq!(stats.info.input_schema, json!({"type": "string"}));
    let greeting = manager.get("greeting").unwrap();
    assert_eq!(greeting.info.version, "0.1.0");
    assert_eq!(greeting.aliases, ["greeting_plugin"]);

    assert_eq!(
        run(&manager, "greeting", json!("Ada")).await,
        Ok(json!("Hello, Ada!"))
    );
    assert_eq!(
        run(&manager, "greeting_plugin", json!({"name": "Ada"})).await,
        Ok(json!("Hello, {'name': 'Ada'}!"))
    );
    assert_eq!(
        run(&manager, "stats", json!("one two three")).await,
        Ok(json!({"words": 3}))
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn the_shipped_examples_load_and_run() {
    let plugins = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins");
    let manager = start(&plugins).await;
    let errors = manager.load_errors();
    assert!(
        !errors
            .iter()
            .any(|e| e.file.ends_with("greeting_plugin.py")
                || e.file.ends_with("text_stats_plugin.py")),
        "{errors:?}"
    );
    assert_eq!(
        run(&manager, "greeting", json!("Ada")).await,
        Ok(json!("Hello, Ada!"))
    );
    let stats = manager.get("text_stats").unwrap();
    assert_eq!(stats.info.category, "text");
    assert!(stats.info.input_schema.get("oneOf").is_some());
    let example = stats.info.example.clone().unwrap();
    let result = run(&manager, "text_stats", example).await.unwrap();
    assert_eq!(result["words"], 7);
    assert_eq!(result["sentences"], 2);
    assert_eq!(result["top_words"][0], json!({"word": "the", "count": 2}));
    assert!(matches!(
        run(&manager, "text_stats", json!(42)).await,
        Err(PluginError::InvalidInput(_))
    ));
    manager.shutdown().await;
}

#[tokio::test]
async fn prints_never_reach_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "loud_plugin.py", &hostile("LoudPlugin"));
    let manager = start(dir.path()).await;
    let before = pid(&manager, "loud").await;
    assert_eq!(
        run(&manager, "loud", json!("print")).await,
        Ok(json!({"printed": true, "stdin": ""}))
    );
    assert_eq!(pid(&manager, "loud").await, before, "the worker survived");
    manager.shutdown().await;
}

#[tokio::test]
async fn plugin_errors_are_clear_and_keep_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "picky_plugin.py", &hostile("PickyPlugin"));
    let manager = start(dir.path()).await;
    let before = pid(&manager, "picky").await;

    let check = async |op: &str, expected: fn(&PluginError) -> bool, text: &str| {
        let error = run(&manager, "picky", json!(op)).await.unwrap_err();
        assert!(expected(&error), "{op}: {error:?}");
        assert!(error.to_string().contains(text), "{op}: {error}");
    };
    check(
        "set",
        |e| matches!(e, PluginError::Failed(_)),
        "not JSON-serialisable",
    )
    .await;
    check("set", |e| matches!(e, PluginError::Failed(_)), "set").await;
    check(
        "nan",
        |e| matches!(e, PluginError::Failed(_)),
        "not JSON-serialisable",
    )
    .await;
    check(
        "value",
        |e| matches!(e, PluginError::InvalidInput(_)),
        "ValueError: no good",
    )
    .await;
    // An exception is the plugin's own failure: its type and message, and the traceback
    // (pointing into the plugin's file) kept apart.
    check(
        "key",
        |e| matches!(e, PluginError::Raised { kind: Some(kind), message, .. } if kind == "KeyError" && message == "'missing'"),
        "KeyError: 'missing'",
    )
    .await;
    check(
        "key",
        |e| matches!(e, PluginError::Raised { traceback: Some(tb), .. } if tb.contains("picky_plugin.py")),
        "KeyError",
    )
    .await;

    assert_eq!(
        pid(&manager, "picky").await,
        before,
        "no error restarted the worker"
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn a_pool_runs_calls_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "slow_plugin.py", &hostile("SlowPlugin"));
    write(dir.path(), "slow_plugin.toml", "[python]\npool_size = 4\n");
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);

    let started = Instant::now();
    let calls = (0..4).map(|_| run(&manager, "slow", json!({"op": "sleep", "seconds": 0.3})));
    let results = futures::future::join_all(calls).await;
    let elapsed = started.elapsed();
    let mut pids: Vec<u64> = results
        .into_iter()
        .map(|r| r.unwrap().as_u64().unwrap())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 4, "four workers served the four calls");
    // Run one after another, the calls would take 1.2 s.
    assert!(elapsed < Duration::from_millis(1100), "{elapsed:?}");
    manager.shutdown().await;
}

#[tokio::test]
async fn a_call_past_its_timeout_kills_the_worker_and_the_next_call_works() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "stuck_plugin.py", &hostile("StuckPlugin"));
    write(dir.path(), "stuck_plugin.toml", "timeout_ms = 2000\n");
    let manager = start(dir.path()).await;
    let before = pid(&manager, "stuck").await;

    let started = Instant::now();
    let error = run(&manager, "stuck", json!("hang")).await.unwrap_err();
    assert!(matches!(error, PluginError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(6));

    let after = pid(&manager, "stuck").await;
    assert_ne!(after, before, "a fresh worker answers");
    manager.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_call_kills_its_worker() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "waiting_plugin.py", &hostile("WaitingPlugin"));
    let manager = start(dir.path()).await;
    let before = pid(&manager, "waiting").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();

    let request = ExecutionRequest::new("waiting", json!({"op": "connect_and_hang", "port": port}));
    let cancel = request.cancel.clone();
    let call = tokio::spawn({
        let manager = manager.clone();
        async move { manager.execute(request).await }
    });
    // The worker connects once it is inside `execute`.
    let (mut conn, _) = listener.accept().await.unwrap();
    cancel.cancel();
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(error, PluginError::Cancelled);
    // The killed worker's socket closes.
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");

    assert_ne!(pid(&manager, "waiting").await, before);
    manager.shutdown().await;
}

#[tokio::test]
async fn crashes_report_the_stderr_tail_and_the_worker_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "fragile_plugin.py", &hostile("FragilePlugin"));
    let manager = start(dir.path()).await;
    let mut last = pid(&manager, "fragile").await;

    for (op, expected) in [
        ("exit", ["about to exit", "exit status: 3"]),
        ("_exit", ["leaving hard", "exit status: 4"]),
        ("sigkill", ["killing myself", "signal: 9"]),
        ("segfault", ["exited", "signal: 11"]),
    ] {
        let message = crashed(run(&manager, "fragile", json!(op)).await);
        for text in expected {
            assert!(message.contains(text), "{op}: {message}");
        }
        let next = pid(&manager, "fragile").await;
        assert_ne!(next, last, "{op}: a new worker answers");
        last = next;
    }
    manager.shutdown().await;
}

#[tokio::test]
async fn broken_files_are_load_errors_while_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "greeting_plugin.py", GREETING);
    write(dir.path(), "syntax_plugin.py", "def broken(:\n    pass\n");
    write(
        dir.path(),
        "missing_dep_plugin.py",
        "import no_such_module_anywhere\n",
    );
    write(
        dir.path(),
        "no_class_plugin.py",
        "class Something:\n    pass\n",
    );
    write(dir.path(), "exits_plugin.py", "import sys\nsys.exit(1)\n");
    write(
        dir.path(),
        "bad_init_plugin.py",
        &hostile("BadInitPlugin").replace("self.ready = True", "raise RuntimeError('no database')"),
    );
    write(dir.path(), "no_python_plugin.py", GREETING);
    write(
        dir.path(),
        "no_python_plugin.toml",
        "[python]\ninterpreter = \"/nonexistent/python3\"\n",
    );
    let manager = start(dir.path()).await;

    let names: Vec<String> = manager.list().iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(names, ["greeting"]);
    assert_eq!(
        run(&manager, "greeting", json!("Ada")).await,
        Ok(json!("Hello, Ada!"))
    );
    let errors = manager.load_errors();
    let error_of = |plugin: &str| -> String {
        errors
            .iter()
            .find(|e| e.plugin.as_deref() == Some(plugin))
            .map(|e| e.error.clone())
            .unwrap_or_else(|| panic!("no load error for {plugin}: {errors:?}"))
    };
    for (plugin, texts) in [
        (
            "syntax",
            &["Traceback", "SyntaxError", "syntax_plugin.py"][..],
        ),
        (
            "missing_dep",
            &[
                "Traceback",
                "ModuleNotFoundError",
                "no_such_module_anywhere",
            ],
        ),
        ("no_class", &["NoClassPlugin", "Something"]),
        ("exits", &["SystemExit"]),
        ("bad_init", &["RuntimeError: no database"]),
        (
            "no_python",
            &[
                "cannot start the Python interpreter",
                "/nonexistent/python3",
            ],
        ),
    ] {
        let error = error_of(plugin);
        for text in texts {
            assert!(error.contains(text), "{plugin}: {error}");
        }
        assert!(error.len() < 5000, "{plugin}: bounded");
    }
    assert_eq!(errors.len(), 6, "{errors:?}");
    // Calling one says why it is missing, by its name or its alias, not "not found".
    for name in ["syntax", "syntax_plugin"] {
        match run(&manager, name, json!("x")).await {
            Err(PluginError::LoadFailed { name, file, error }) => {
                assert_eq!(name, "syntax");
                assert!(file.ends_with("syntax_plugin.py"), "{file}");
                assert!(error.contains("SyntaxError"), "{error}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        run(&manager, "never_written", json!("x")).await,
        Err(PluginError::NotFound { .. })
    ));
    manager.shutdown().await;
}

#[tokio::test]
async fn the_interpreter_is_chosen_globally_and_per_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let status = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(status.success());
    let system = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let system = String::from_utf8(system.stdout).unwrap().trim().to_owned();

    let source = |class: &str| {
        format!(
            "import sys\nfrom codexcontinue import PluginInterface\n\
             class {class}(PluginInterface):\n    def initialize(self): pass\n    \
             def execute(self, data): return {{'prefix': sys.prefix, 'executable': sys.executable}}\n    \
             def shutdown(self): pass\n"
        )
    };
    write(dir.path(), "global_plugin.py", &source("GlobalPlugin"));
    write(dir.path(), "isolated_plugin.py", &source("IsolatedPlugin"));
    // A relative path with a folder is taken from the plugin's folder.
    write(
        dir.path(),
        "isolated_plugin.toml",
        "[python]\ninterpreter = \"venv/bin/python\"\n",
    );
    let options = PythonOptions {
        interpreter: PathBuf::from(&system),
        ..options()
    };
    let manager = start_with(HostConfig::new(dir.path()), options).await;
    assert_eq!(manager.load_errors(), []);

    let global = run(&manager, "global", json!(null)).await.unwrap();
    assert_eq!(global["executable"], system.as_str());
    let isolated = run(&manager, "isolated", json!(null)).await.unwrap();
    let prefix = PathBuf::from(isolated["prefix"].as_str().unwrap());
    assert_eq!(prefix.canonicalize().unwrap(), venv.canonicalize().unwrap());
    manager.shutdown().await;
}

/// A plugin that records `initialize()` and `shutdown()` in `<file>.events`.
fn logged(class: &str) -> String {
    hostile(class)
        .replace(
            "self.ready = True",
            "self.ready = True\n        self.log('init')",
        )
        .replace(
            "    def shutdown(self):\n        pass",
            "    def shutdown(self):\n        self.log('shutdown')\n\n    \
             def log(self, event):\n        \
             with open(os.path.splitext(__file__)[0] + '.events', 'a') as f:\n            \
             f.write(event + '\\n')",
        )
}

#[tokio::test]
async fn replacements_are_initialized_and_shutdown_reaches_every_worker() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "single_plugin.py", &logged("SinglePlugin"));
    write(dir.path(), "triple_plugin.py", &logged("TriplePlugin"));
    write(
        dir.path(),
        "triple_plugin.toml",
        "[python]\npool_size = 3\n",
    );
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);
    let events = |plugin: &str| {
        std::fs::read_to_string(dir.path().join(format!("{plugin}_plugin.events")))
            .unwrap_or_default()
    };
    assert_eq!(events("single"), "init\n");
    assert_eq!(events("triple"), "init\ninit\ninit\n");

    crashed(run(&manager, "single", json!("exit")).await);
    // With one worker, the next call waits for the replacement; `pid` asserts that the
    // replacement ran initialize().
    pid(&manager, "single").await;
    assert_eq!(events("single"), "init\ninit\n");

    manager.shutdown().await;
    assert_eq!(events("single"), "init\ninit\nshutdown\n");
    assert_eq!(
        events("triple"),
        "init\ninit\ninit\nshutdown\nshutdown\nshutdown\n"
    );
}

#[tokio::test]
async fn a_worker_that_ignores_shutdown_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    write(
        dir.path(),
        "stubborn_plugin.py",
        &hostile("StubbornPlugin")
            .replace(
                "self.ready = True",
                &format!("self.ready = True\n        self.conn = socket.create_connection(('127.0.0.1', {port}))"),
            )
            .replace(
                "    def shutdown(self):\n        pass",
                "    def shutdown(self):\n        time.sleep(60)",
            ),
    );
    let options = PythonOptions {
        shutdown_grace: Duration::from_millis(300),
        ..options()
    };
    let manager = start_with(HostConfig::new(dir.path()), options).await;
    assert_eq!(manager.load_errors(), []);
    let (mut conn, _) = listener.accept().await.unwrap();

    let started = Instant::now();
    manager.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the worker was killed: {read:?}"
    );
}

#[tokio::test]
async fn large_outputs_pass_and_runaway_lines_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "big_plugin.py", &hostile("BigPlugin"));
    let mut config = HostConfig::new(dir.path());
    config.limits.max_output_bytes = 16 * 1024 * 1024;
    let options = PythonOptions {
        max_line_bytes: 4 * 1024 * 1024,
        ..options()
    };
    let manager = start_with(config, options).await;

    let size = 3 * 1024 * 1024;
    let result = run(&manager, "big", json!({"op": "big", "size": size}))
        .await
        .unwrap();
    assert_eq!(result.as_str().map(str::len), Some(size));

    let message = crashed(
        run(
            &manager,
            "big",
            json!({"op": "big", "size": 5 * 1024 * 1024}),
        )
        .await,
    );
    assert!(message.contains("over the limit"), "{message}");
    pid(&manager, "big").await;
    manager.shutdown().await;
}

/// Two plugins that answer the config they were given: one takes it as `initialize`'s
/// argument, the other keeps the original `initialize()` and reads `self.config`.
const CONFIGURED: &str = r#"
import os
from codexcontinue import PluginInterface

class WithArgPlugin(PluginInterface):
    def initialize(self, config):
        self.given = config

    def execute(self, data):
        if data == "exit":
            os._exit(1)
        return {"given": self.given, "attribute": self.config, "pid": os.getpid()}

    def shutdown(self):
        pass
"#;

const CONFIGURED_OLD_STYLE: &str = r#"
from codexcontinue import PluginInterface

class NoArgPlugin(PluginInterface):
    def initialize(self):
        self.seen = dict(self.config)

    def execute(self, data):
        return {"seen": self.seen}

    def shutdown(self):
        pass
"#;

// Python workers never received the manifest's `[config]`, which Wasm plugins read with
// `config::get`; both `initialize(config)` and the original `initialize()` must keep working.
#[tokio::test]
async fn python_plugins_get_the_manifest_config_at_initialize() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "with_arg_plugin.py", CONFIGURED);
    write(
        dir.path(),
        "with_arg_plugin.toml",
        "[config]\ngreeting = \"hi\"\nretries = 3\n[config.nested]\nlist = [1, \"two\"]\n",
    );
    write(dir.path(), "no_arg_plugin.py", CONFIGURED_OLD_STYLE);
    write(
        dir.path(),
        "no_arg_plugin.toml",
        "[config]\nmode = \"old\"\n",
    );
    write(
        dir.path(),
        "bare_plugin.py",
        &CONFIGURED_OLD_STYLE.replace("NoArg", "Bare"),
    );
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);

    let config = json!({"greeting": "hi", "retries": 3, "nested": {"list": [1, "two"]}});
    let first = run(&manager, "with_arg", json!(null)).await.unwrap();
    assert_eq!(first["given"], config);
    assert_eq!(first["attribute"], config);
    assert_eq!(
        run(&manager, "no_arg", json!(null)).await,
        Ok(json!({"seen": {"mode": "old"}}))
    );
    // No manifest: an empty table, not a missing attribute.
    assert_eq!(
        run(&manager, "bare", json!(null)).await,
        Ok(json!({"seen": {}}))
    );

    // A replacement worker is initialised with the same config.
    crashed(run(&manager, "with_arg", json!("exit")).await);
    let replaced = run(&manager, "with_arg", json!(null)).await.unwrap();
    assert_ne!(replaced["pid"], first["pid"]);
    assert_eq!(replaced["given"], config);
    manager.shutdown().await;
}

/// Sleeps in steps of 50 ms, writing its pid and then each step done into a file.
const STEPPER: &str = r#"
import os, time
from codexcontinue import PluginInterface

class StepperPlugin(PluginInterface):
    def initialize(self):
        pass

    def shutdown(self):
        pass

    def execute(self, data):
        if data == "pid":
            return os.getpid()
        with open(data["file"], "a") as out:
            out.write(f"{os.getpid()}\n")
            out.flush()
            for step in range(data["steps"]):
                time.sleep(0.05)
                out.write(f"step {step}\n")
                out.flush()
                self.progress((step + 1) / data["steps"], f"step {step + 1}")
        return "done"
"#;

/// Waits (bounded) until `ready` holds of the file's lines.
async fn wait_for_lines(file: &Path, ready: impl Fn(&[&str]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if ready(&lines) {
            return lines.into_iter().map(str::to_owned).collect();
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {text:?}",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_plugin_sleeping_in_steps_is_cancelled_midway_and_its_worker_replaced() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "stepper_plugin.py", STEPPER);
    let manager = start(dir.path()).await;
    let steps = dir.path().join("steps.txt");

    let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
    let request = ExecutionRequest::new("stepper", json!({"file": steps, "steps": 200}))
        .with_progress(Arc::new({
            let reports = reports.clone();
            move |report| reports.lock().unwrap().push(report)
        }));
    let cancel = request.cancel.clone();
    let call = tokio::spawn({
        let manager = manager.clone();
        async move { manager.execute(request).await }
    });
    let lines = wait_for_lines(&steps, |lines| lines.len() >= 3).await;
    let worker: u32 = lines[0].parse().unwrap();
    // The reports travel on the worker's stdout, apart from the steps file: cancel once two
    // of them reached the caller, so that the call is known to report while it runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    while reports.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no progress reached the caller");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cancelled_at = Instant::now();
    cancel.cancel();
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(error, PluginError::Cancelled);
    assert!(
        cancelled_at.elapsed() < Duration::from_millis(500),
        "{:?}",
        cancelled_at.elapsed()
    );
    // The worker is killed: it is gone, and its steps stop midway.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{worker}")).exists() {
        assert!(Instant::now() < deadline, "worker {worker} still runs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let written = std::fs::read_to_string(&steps).unwrap();
    assert!(!written.contains("step 199"), "{written}");
    // Its progress reached the caller while it ran.
    let reports = reports.lock().unwrap().clone();
    assert!(reports.len() >= 2, "{reports:?}");
    assert_eq!(
        reports[0],
        codex_plugin::Progress::new(Some(0.005), Some("step 1".to_owned()))
    );

    // A replacement answers the next call.
    let next = run(&manager, "stepper", json!("pid")).await.unwrap();
    assert_ne!(next.as_u64().unwrap(), u64::from(worker));
    manager.shutdown().await;
}

#[tokio::test]
async fn progress_reports_reach_the_caller_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "reporter_plugin.py",
        r#"
import threading
from codexcontinue import PluginInterface, report_progress

class ReporterPlugin(PluginInterface):
    def initialize(self):
        pass

    def shutdown(self):
        pass

    def execute(self, data):
        self.progress(0.25, "a quarter")
        self.progress(message="no fraction")
        report_progress(fraction=2)
        thread = threading.Thread(target=lambda: self.progress(0.5, "from a thread"))
        thread.start()
        thread.join()
        return "done"
"#,
    );
    let manager = start(dir.path()).await;
    let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
    let request = ExecutionRequest::new("reporter", json!(null)).with_progress(Arc::new({
        let reports = reports.clone();
        move |report| reports.lock().unwrap().push(report)
    }));
    let result = manager.execute(request).await.unwrap();
    assert_eq!(result.result, json!("done"));
    use codex_plugin::Progress;
    assert_eq!(
        *reports.lock().unwrap(),
        [
            Progress::new(Some(0.25), Some("a quarter".to_owned())),
            Progress::new(None, Some("no fraction".to_owned())),
            // Clamped to 0..=1.
            Progress::new(Some(1.0), None),
            Progress::new(Some(0.5), Some("from a thread".to_owned())),
        ]
    );
    // Without a listener, reports are dropped and the call works the same.
    assert_eq!(
        run(&manager, "reporter", json!(null)).await.unwrap(),
        json!("done")
    );
    manager.shutdown().await;
}

/// An edit to a helper module the plugin imported from its folder (or a package below it)
/// reloads the plugin, although its own file did not change; an edit to a file it never
/// imported reloads nothing.
#[tokio::test]
async fn a_changed_helper_module_reloads_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "words.py", "GREETING = 'hello'\n");
    std::fs::create_dir(dir.path().join("texts")).unwrap();
    write(dir.path(), "texts/__init__.py", "");
    write(dir.path(), "texts/punctuation.py", "MARK = '!'\n");
    write(dir.path(), "unrelated.py", "X = 1\n");
    write(
        dir.path(),
        "greeter_plugin.py",
        "import words\nfrom texts import punctuation\n\n\
         class GreeterPlugin:\n    \
         def execute(self, data):\n        \
         return words.GREETING + punctuation.MARK\n",
    );
    let manager = start(dir.path()).await;
    assert_eq!(
        run(&manager, "greeter", json!({})).await.unwrap(),
        json!("hello!")
    );
    let helpers = &manager.get("greeter").unwrap().info.helpers;
    assert_eq!(helpers.len(), 3, "{helpers:?}");

    // Nothing it imported changed: the same worker keeps serving.
    let before = manager.get("greeter").unwrap();
    write(dir.path(), "unrelated.py", "X = 22\n");
    manager.reload().await;
    assert!(Arc::ptr_eq(&before, &manager.get("greeter").unwrap()));

    write(dir.path(), "words.py", "GREETING = 'good morning'\n");
    manager.reload().await;
    assert_eq!(
        run(&manager, "greeter", json!({})).await.unwrap(),
        json!("good morning!")
    );
    write(dir.path(), "texts/punctuation.py", "MARK = '?!'\n");
    manager.reload().await;
    assert_eq!(
        run(&manager, "greeter", json!({})).await.unwrap(),
        json!("good morning?!")
    );
    manager.shutdown().await;
}

/// A manifest's `requirements` are installed from PyPI into a virtual environment of the
/// plugin's own, made once under the cache folder; the workers run in it. A requirement pip
/// cannot install is a load error with pip's own words.
#[tokio::test]
async fn requirements_are_installed_into_the_plugins_own_environment() {
    let dir = tempfile::tempdir().unwrap();
    let envs = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "needs_plugin.py",
        "import sys\nimport six\n\n\
         class NeedsPlugin:\n    \
         def execute(self, data):\n        \
         return {'six': six.__version__, 'prefix': sys.prefix}\n",
    );
    write(
        dir.path(),
        "needs_plugin.toml",
        "[python]\nrequirements = [\"six==1.17.0\"]\n",
    );
    write(
        dir.path(),
        "broken_plugin.py",
        "class BrokenPlugin:\n    def execute(self, data):\n        return 1\n",
    );
    write(
        dir.path(),
        "broken_plugin.toml",
        "[python]\nrequirements = [\"codexcontinue-no-such-package-anywhere==0.0.1\"]\n",
    );
    let options = PythonOptions {
        envs_dir: Some(envs.path().to_owned()),
        ..options()
    };
    let manager = start_with(HostConfig::new(dir.path()), options.clone()).await;
    let answer = run(&manager, "needs", json!({})).await.unwrap();
    assert_eq!(answer["six"], "1.17.0");
    let prefix = answer["prefix"].as_str().unwrap();
    assert!(
        prefix.starts_with(envs.path().to_str().unwrap()),
        "{prefix}"
    );
    let error = manager
        .load_errors()
        .into_iter()
        .find(|e| e.plugin.as_deref() == Some("broken"))
        .expect("the broken requirement is a load error")
        .error;
    assert!(
        error.contains("pip could not install")
            && error.contains("codexcontinue-no-such-package-anywhere"),
        "{error}"
    );
    manager.shutdown().await;

    // Made once: a restart reuses the environment as it is.
    let marker = std::fs::read_dir(envs.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("needs-")
        })
        .unwrap()
        .join(".codexcontinue-ready");
    let made = std::fs::metadata(&marker).unwrap().modified().unwrap();
    let manager = start_with(HostConfig::new(dir.path()), options).await;
    assert_eq!(
        run(&manager, "needs", json!({})).await.unwrap()["six"],
        "1.17.0"
    );
    assert_eq!(
        std::fs::metadata(&marker).unwrap().modified().unwrap(),
        made
    );
    manager.shutdown().await;
}

/// A Python plugin's input schema comes from the type hints of `execute` (a `TypedDict`
/// or dataclass, `Literal`, `Annotated`) and its docstring's `Args:`; inputs the schema
/// does not allow are refused, with where, before the plugin sees them; a dataclass
/// parameter receives an instance; a plain string still reaches the plugin.
#[tokio::test]
async fn a_schema_from_type_hints_describes_and_guards_the_input() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "caser_plugin.py",
        "from typing import Annotated, Literal, TypedDict, NotRequired\n\n\
         class Params(TypedDict):\n    \
         text: Annotated[str, 'The text to change']\n    \
         mode: Literal['upper', 'lower']\n    \
         times: NotRequired[int]\n\n\
         class CaserPlugin:\n    \
         def execute(self, data: Params):\n        \
         \"\"\"Changes the case of a text.\n\n        \
         Args:\n            \
         times: How often to repeat it.\n        \
         \"\"\"\n        \
         if isinstance(data, str):\n            \
         return 'plain: ' + data\n        \
         text = data['text'].upper() if data['mode'] == 'upper' else data['text'].lower()\n        \
         return text * data.get('times', 1)\n",
    );
    write(
        dir.path(),
        "weather_plugin.py",
        "from dataclasses import dataclass\n\n\
         @dataclass\n\
         class Query:\n    \
         city: str\n    \
         units: str = 'c'\n\n\
         class WeatherPlugin:\n    \
         def execute(self, data: Query):\n        \
         return {'city': data.city, 'units': data.units, 'kind': type(data).__name__}\n",
    );
    let manager = start(dir.path()).await;
    assert_eq!(manager.load_errors(), []);
    let schema = manager.get("caser").unwrap().info.input_schema.clone();
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "The text to change"},
                "mode": {"type": "string", "enum": ["upper", "lower"]},
                "times": {"type": "integer", "description": "How often to repeat it."}
            },
            "required": ["mode", "text"],
            "additionalProperties": false
        })
    );
    assert_eq!(
        run(
            &manager,
            "caser",
            json!({"text": "Ab", "mode": "upper", "times": 2})
        )
        .await
        .unwrap(),
        json!("ABAB")
    );
    let error = run(&manager, "caser", json!({"text": "Ab", "mode": "sideways"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PluginError::InvalidInput(m) if m.starts_with("the input at /mode does not match the schema of 'caser'")),
        "{error:?}"
    );
    let error = run(&manager, "caser", json!({"mode": "upper"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PluginError::InvalidInput(m) if m.contains("\"text\" is a required property")),
        "{error:?}"
    );
    assert_eq!(
        run(&manager, "caser", json!("as text")).await.unwrap(),
        json!("plain: as text")
    );

    let weather = manager.get("weather").unwrap().info.input_schema.clone();
    assert_eq!(weather["required"], json!(["city"]));
    assert_eq!(
        run(&manager, "weather", json!({"city": "Oslo"}))
            .await
            .unwrap(),
        json!({"city": "Oslo", "units": "c", "kind": "Query"})
    );
    manager.shutdown().await;
}

/// `start_loading` answers at once and loads the folder in the background, several files
/// at a time: while it runs, `loading` counts, and a call of a plugin not loaded yet waits
/// for it instead of failing; a name nobody has is still not found once loading is done.
#[tokio::test]
async fn plugins_load_in_the_background_and_calls_wait_for_them() {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..6 {
        write(
            dir.path(),
            &format!("slow{n}_plugin.py"),
            &format!(
                "import time\ntime.sleep(0.3)\n\n\
                 class Slow{n}Plugin:\n    def execute(self, data):\n        return {n}\n"
            ),
        );
    }
    let started = std::time::Instant::now();
    let manager = PluginManager::builder(HostConfig::new(dir.path()))
        .with_runtime(Arc::new(PythonRuntime::new(options())))
        .start_loading();
    let loading = manager.loading().expect("still loading");
    assert!(loading.loaded < 6, "{loading:?}");
    // Waits for the load rather than answering plugin_not_found.
    assert_eq!(run(&manager, "slow5", json!(null)).await.unwrap(), json!(5));
    assert!(manager.wait_loaded(Duration::from_secs(60)).await);
    assert_eq!(manager.loading(), None);
    assert_eq!(
        manager.list().iter().filter(|e| e.source.is_some()).count(),
        6
    );
    // Six imports of 0.3 s each, loaded concurrently, take well under their 1.8 s in a row.
    println!("6 slow plugins loaded in {:?}", started.elapsed());
    assert!(matches!(
        run(&manager, "nobody", json!(null)).await,
        Err(PluginError::NotFound { .. })
    ));
    manager.shutdown().await;
}

/// The parent process of `pid`, from `/proc`.
fn parent_of(pid: u64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces; the fields after its `)` are plain.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(1).unwrap().parse().unwrap()
}

async fn start_runtime(dir: &Path, options: PythonOptions) -> (PluginManager, Arc<PythonRuntime>) {
    let runtime = Arc::new(PythonRuntime::new(options));
    let manager = PluginManager::builder(HostConfig::new(dir))
        .with_runtime(runtime.clone())
        .start()
        .await;
    (manager, runtime)
}

/// With the fork server each plugin's worker is a process of its own, forked by the one
/// server of its interpreter; without it, each is a child of the host.
#[tokio::test]
async fn each_plugin_runs_in_its_own_process_forked_or_spawned() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "first_plugin.py", &hostile("FirstPlugin"));
    write(dir.path(), "second_plugin.py", &hostile("SecondPlugin"));
    let (manager, runtime) = start_runtime(dir.path(), options()).await;
    let first = pid(&manager, "first").await;
    let second = pid(&manager, "second").await;
    assert_ne!(first, second);
    assert_ne!(first, u64::from(std::process::id()));
    let server = runtime.fork_server_pid(Path::new("python3")).await;
    if options().fork_server {
        let server = u64::from(server.expect("a fork server runs"));
        assert_eq!(parent_of(first), server);
        assert_eq!(parent_of(second), server);
    } else {
        assert_eq!(server, None);
        assert_eq!(parent_of(first), u64::from(std::process::id()));
        assert_eq!(parent_of(second), u64::from(std::process::id()));
    }
    manager.shutdown().await;
}

/// Killing the fork server loses nothing: the workers it forked keep answering, its death
/// is noticed, and the next worker to start comes from a new server.
#[tokio::test]
async fn killing_the_fork_server_loses_no_call_and_the_next_fork_starts_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "sturdy_plugin.py", &hostile("SturdyPlugin"));
    let options = PythonOptions {
        fork_server: true,
        ..PythonOptions::default()
    };
    let (manager, runtime) = start_runtime(dir.path(), options).await;
    let worker = pid(&manager, "sturdy").await;
    let server = runtime
        .fork_server_pid(Path::new("python3"))
        .await
        .expect("a fork server runs");
    assert_eq!(parent_of(worker), u64::from(server));

    let killed = std::process::Command::new("kill")
        .args(["-9", &server.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while runtime
        .fork_server_pid(Path::new("python3"))
        .await
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the server's death was not noticed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The worker outlives its server and keeps answering.
    assert_eq!(pid(&manager, "sturdy").await, worker);
    assert_eq!(
        run(&manager, "sturdy", json!({"op": "echo", "n": 1}))
            .await
            .unwrap(),
        json!({"op": "echo", "n": 1})
    );

    // Its crash is still noticed (through its pidfd), and its replacement is forked by
    // a new server.
    let message = crashed(run(&manager, "sturdy", json!("_exit")).await);
    assert!(message.contains("leaving hard"), "{message}");
    let replacement = pid(&manager, "sturdy").await;
    assert_ne!(replacement, worker);
    let new_server = runtime
        .fork_server_pid(Path::new("python3"))
        .await
        .expect("a new fork server runs");
    assert_ne!(new_server, server);
    assert_eq!(parent_of(replacement), u64::from(new_server));
    manager.shutdown().await;
}

/// Whatever one plugin does to the modules it shares with others (the `codexcontinue`
/// shim, the standard library, `sys.modules`) stays in its own process: the fork server
/// never runs plugin code.
#[tokio::test]
async fn module_state_does_not_leak_between_plugins_forked_from_one_server() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "meddler_plugin.py",
        r#"
import json, os, sys
import codexcontinue

codexcontinue.MEDDLED = "at import"
json.MEDDLED = True
sys.modules["meddler_marker"] = sys


class MeddlerPlugin:
    def execute(self, data):
        codexcontinue.MEDDLED = "at execute"
        sys.modules["meddler_marker_2"] = sys
        return {"shim": codexcontinue.MEDDLED, "parent": os.getppid()}
"#,
    );
    let (manager, runtime) = start_runtime(dir.path(), options()).await;
    let meddler = run(&manager, "meddler", json!(null)).await.unwrap();
    assert_eq!(meddler["shim"], "at execute");
    write(
        dir.path(),
        "witness_plugin.py",
        r#"
import json, os, sys
import codexcontinue


class WitnessPlugin:
    def execute(self, data):
        return {
            "shim": getattr(codexcontinue, "MEDDLED", None),
            "stdlib": getattr(json, "MEDDLED", None),
            "modules": sorted(m for m in sys.modules if m.startswith("meddler")),
            "parent": os.getppid(),
        }
"#,
    );
    manager.reload().await;
    let witness = run(&manager, "witness", json!(null)).await.unwrap();
    assert_eq!(witness["shim"], Value::Null);
    assert_eq!(witness["stdlib"], Value::Null);
    assert_eq!(witness["modules"], json!([]));
    if options().fork_server {
        // Both came from the same server, which had seen the meddler's import by then.
        let server = runtime.fork_server_pid(Path::new("python3")).await.unwrap();
        assert_eq!(meddler["parent"], json!(server));
        assert_eq!(witness["parent"], json!(server));
    }
    manager.shutdown().await;
}
