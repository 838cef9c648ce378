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
