//! Hot reload: watches the plugins folder and rescans after changes settle.

use std::path::Path;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::manager::PluginManager;

/// How long the folder must be quiet before a rescan: editors and `cp` write in bursts.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Keeps the folder watched; dropping it stops watching.
pub struct FolderWatch {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FolderWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PluginManager {
    /// Reloads whenever a plugin file in the folder is added, changed or removed, or a
    /// Python source file in it or below it changes (a plugin's helper module).
    /// Must be called inside a Tokio runtime.
    pub fn watch(&self) -> Result<FolderWatch, notify::Error> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && is_relevant(&event)
                {
                    let _ = tx.send(());
                }
            })?;
        watcher.watch(&self.config().plugins_dir, RecursiveMode::Recursive)?;
        let manager = self.clone();
        let task = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Wait until nothing has changed for a moment, then rescan once.
                while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
                tracing::info!("plugins folder changed; reloading");
                manager.reload().await;
            }
        });
        Ok(FolderWatch {
            _watcher: watcher,
            task,
        })
    }
}

fn is_relevant(event: &notify::Event) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event
        .paths
        .iter()
        .any(|p| is_plugin_file(p) || p.extension().is_some_and(|ext| ext == "py"))
}

fn is_plugin_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(codex_plugin::naming::parse_file_name)
        .is_some()
}
