//! The executor and the store-backed memory over a real SQLite file and the built-in plugins.

use std::sync::Arc;

use codex_agent::{ExecuteError, Executor, StoreMemory};
use codex_host::{ExecutionRequest, HostConfig, NativePlugin, PluginManager};
use codex_plugin::MemoryView;
use codex_store::{EventKind, EventStore, ExecutionSource, NewEvent, Role, StoreOptions};
use serde_json::json;

struct Fixture {
    executor: Executor,
    store: Arc<dyn EventStore>,
    memory: StoreMemory,
    _dir: tempfile::TempDir,
}

async fn fixture(short_limit: usize) -> Fixture {
    fixture_with(short_limit, StoreOptions::default()).await
}

async fn fixture_with(short_limit: usize, options: StoreOptions) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = codex_store::connect(&url, options).await.unwrap();
    let natives = codex_builtins::builtins()
        .into_iter()
        .map(|b| NativePlugin {
            plugin: b.plugin,
            enabled_by_default: b.enabled_by_default,
        });
    let plugins = PluginManager::builder(HostConfig::new(dir.path().join("plugins")))
        .with_natives(natives)
        .with_memory(Arc::new(StoreMemory::new(store.clone(), short_limit)))
        .start()
        .await;
    Fixture {
        executor: Executor::new(plugins, store.clone()),
        memory: StoreMemory::new(store.clone(), short_limit),
        store,
        _dir: dir,
    }
}

#[tokio::test]
async fn a_successful_run_is_logged_before_it_is_answered() {
    let f = fixture(20).await;
    let request = ExecutionRequest::new("test", json!("hi")).with_session("s1");
    let logged = f
        .executor
        .execute(request, ExecutionSource::Api)
        .await
        .unwrap();
    assert_eq!(logged.execution.plugin, "echo");
    assert_eq!(logged.seq, 1);
    let logs = f.store.plugin_logs("s1", None, 10).await.unwrap();
    assert_eq!(logs.items.len(), 1);
    let log = &logs.items[0];
    assert_eq!(log.id, logged.execution_id);
    assert_eq!(log.execution.plugin, "echo");
    assert_eq!(log.execution.input, json!("hi"));
    assert_eq!(log.execution.output, Some(json!({"echo": "hi"})));
    assert_eq!(log.execution.status, "ok");
    assert_eq!(log.execution.source, ExecutionSource::Api);
}

/// A call announces its log entry while it runs and withdraws the announcement before it
/// appends: a writer told to wait while even one call is announced must not wait for the
/// very call whose entry it is committing.
#[tokio::test]
async fn a_run_does_not_hold_back_its_own_log_entry() {
    let options = StoreOptions::default()
        .with_commit_delay(std::time::Duration::from_secs(60))
        .with_commit_siblings(1);
    let f = fixture_with(20, options).await;
    let request = ExecutionRequest::new("echo", json!("hi")).with_session("s1");
    let logged = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        f.executor.execute(request, ExecutionSource::Api),
    )
    .await
    .expect("the run is logged without waiting out the commit delay")
    .unwrap();
    assert_eq!(logged.seq, 1);
}

#[tokio::test]
async fn failures_are_logged_with_their_code() {
    let f = fixture(20).await;
    let request = ExecutionRequest::new("calculator", json!("1/")).with_session("s");
    let err = f
        .executor
        .execute(request, ExecutionSource::Cli)
        .await
        .unwrap_err();
    let ExecuteError::Plugin { execution_id, .. } = err else {
        panic!("expected a plugin error, got {err:?}");
    };
    let request = ExecutionRequest::new("nope", json!(null)).with_session("s");
    f.executor
        .execute(request, ExecutionSource::Cli)
        .await
        .unwrap_err();
    let logs = f.store.plugin_logs("s", None, 10).await.unwrap().items;
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].id, execution_id);
    assert_eq!(logs[0].execution.status, "invalid_input");
    assert!(logs[0].execution.error.is_some());
    assert_eq!(logs[1].execution.plugin, "nope");
    assert_eq!(logs[1].execution.status, "plugin_not_found");
}

#[tokio::test]
async fn a_bad_session_id_runs_nothing() {
    let f = fixture(20).await;
    let request = ExecutionRequest::new("echo", json!("x")).with_session("");
    let err = f
        .executor
        .execute(request, ExecutionSource::Api)
        .await
        .unwrap_err();
    assert!(matches!(err, ExecuteError::InvalidSession(_)), "{err:?}");
}

#[tokio::test]
async fn a_closed_store_withholds_the_result() {
    let f = fixture(20).await;
    f.store.close().await;
    let request = ExecutionRequest::new("echo", json!("x"));
    let err = f
        .executor
        .execute(request, ExecutionSource::Api)
        .await
        .unwrap_err();
    assert!(matches!(err, ExecuteError::Store(_)), "{err:?}");
}

#[tokio::test]
async fn memory_is_short_since_the_reset_and_full_with_resets() {
    let f = fixture(2).await;
    for text in ["one", "two", "three"] {
        f.store
            .append_one(NewEvent::message("m", Role::User, text))
            .await
            .unwrap();
    }
    let contents = |m: Vec<codex_plugin::MemoryMessage>| -> Vec<String> {
        m.into_iter()
            .map(|m| format!("{}:{}", m.role, m.content))
            .collect()
    };
    assert_eq!(
        contents(f.memory.short("m").await.unwrap()),
        ["user:two", "user:three"]
    );
    f.store.reset("m").await.unwrap();
    f.store
        .append_one(NewEvent::message("m", Role::Assistant, "four"))
        .await
        .unwrap();
    assert_eq!(
        contents(f.memory.short("m").await.unwrap()),
        ["assistant:four"]
    );
    assert_eq!(
        contents(f.memory.full("m").await.unwrap()),
        [
            "user:one",
            "user:two",
            "user:three",
            "system:[memory reset]",
            "assistant:four"
        ]
    );
    assert!(f.memory.full("unknown").await.unwrap().is_empty());
    let kinds: Vec<EventKind> = f
        .store
        .timeline("m", None, 10)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.len(), 5);
}

#[tokio::test]
async fn the_memory_plugin_reads_the_store() {
    let f = fixture(20).await;
    f.store
        .append_one(NewEvent::message("p", Role::User, "remember me"))
        .await
        .unwrap();
    let request = ExecutionRequest::new("memory", json!({})).with_session("p");
    let logged = f
        .executor
        .execute(request, ExecutionSource::Api)
        .await
        .unwrap();
    assert_eq!(logged.execution.result["count"], 1);
    assert_eq!(
        logged.execution.result["messages"][0]["content"],
        "remember me"
    );
    assert_eq!(logged.seq, 2);
}
mod chat;
