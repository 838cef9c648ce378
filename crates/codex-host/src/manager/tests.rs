//! The manager's core, tested through its private parts: retired entries and the generation.

use super::*;
use async_trait::async_trait;
use codex_plugin::PluginInfo;
use serde_json::json;

struct Answer(PluginInfo);

#[async_trait]
impl Plugin for Answer {
    fn info(&self) -> &PluginInfo {
        &self.0
    }

    async fn execute(&self, _data: Value, _ctx: &ExecContext) -> codex_plugin::Result<Value> {
        Ok(json!(42))
    }
}

// A call looks its plugin up, then waits for a concurrency slot; a reload that retired
// the entry in between closed those slots, and the call failed with "unloaded" although
// the replacement was serving. It must run on the replacement instead.
#[tokio::test]
async fn a_call_holding_a_retired_entry_runs_on_its_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let manager = PluginManager::builder(HostConfig::new(dir.path()))
        .with_native(Arc::new(Answer(PluginInfo::new("answer"))), true)
        .start()
        .await;
    let old = manager.get("answer").unwrap();
    manager.load_all().await;
    retire(old.clone()).await;
    assert!(!Arc::ptr_eq(&old, &manager.get("answer").unwrap()));

    let request = ExecutionRequest::new("answer", json!(null));
    let execution = manager.execute_on(old, request).await.unwrap();
    assert_eq!(execution.result, json!(42));
}

// The same entry closed and still registered: no replacement, so a clear failure
// rather than an endless retry.
#[tokio::test]
async fn a_call_on_a_retired_entry_without_replacement_fails_once() {
    let dir = tempfile::tempdir().unwrap();
    let manager = PluginManager::builder(HostConfig::new(dir.path()))
        .with_native(Arc::new(Answer(PluginInfo::new("answer"))), true)
        .start()
        .await;
    let entry = manager.get("answer").unwrap();
    entry.slots.close();
    let err = manager
        .execute(ExecutionRequest::new("answer", json!(null)))
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Crashed(_)), "{err:?}");
}

// Every reload bumped the generation, changed or not, so subscribers (MCP
// `list_changed`, the UI) were told of changes that never happened.
#[tokio::test]
async fn a_reload_that_changes_nothing_does_not_bump_the_generation() {
    let dir = tempfile::tempdir().unwrap();
    let manager = PluginManager::builder(HostConfig::new(dir.path()))
        .with_native(Arc::new(Answer(PluginInfo::new("answer"))), true)
        .start()
        .await;
    let mut generation = manager.subscribe();
    generation.borrow_and_update();
    manager.reload().await;
    assert!(!generation.has_changed().unwrap());
    manager.set_enabled("answer", false).unwrap();
    assert!(generation.has_changed().unwrap());
}

struct Broken(PluginInfo);

#[async_trait]
impl Plugin for Broken {
    fn info(&self) -> &PluginInfo {
        &self.0
    }

    async fn initialize(&self) -> codex_plugin::Result<()> {
        Err(PluginError::failed("no model"))
    }

    async fn execute(&self, _data: Value, _ctx: &ExecContext) -> codex_plugin::Result<Value> {
        Ok(Value::Null)
    }
}

// A built-in whose `initialize` failed was recorded in `load_errors`, then dropped by the
// first folder rescan (which `start` runs at once), so nobody saw why it was missing.
#[tokio::test]
async fn a_builtin_that_fails_to_initialize_stays_in_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let manager = PluginManager::builder(HostConfig::new(dir.path()))
        .with_native(Arc::new(Answer(PluginInfo::new("answer"))), true)
        .with_native(Arc::new(Broken(PluginInfo::new("broken"))), true)
        .start()
        .await;
    let expected = vec![LoadError {
        file: "(built-in)".to_owned(),
        plugin: Some("broken".to_owned()),
        error: "initialize failed: no model".to_owned(),
    }];
    assert_eq!(manager.load_errors(), expected);
    manager.reload().await;
    assert_eq!(manager.load_errors(), expected);
    assert!(manager.get("broken").is_err());
    assert!(manager.get("answer").is_ok());
}
