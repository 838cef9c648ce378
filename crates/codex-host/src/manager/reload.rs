//! Folder reloads, and the one publish step every change of the registry goes through.

use std::collections::BTreeMap;
use std::sync::Arc;

use codex_plugin::PluginKind;
use std::sync::atomic::Ordering;

use futures::StreamExt;

use super::{PluginManager, retire};
use crate::discovery;
use crate::manifest::Manifest;
use crate::mcp::McpServerConfig;
use crate::registry::{LoadError, PluginEntry, Registry};

/// Plugin files loaded at once by a rescan.
const LOAD_CONCURRENCY: usize = 8;

/// A file of a rescan: still as loaded, or to load (with the version it replaces).
enum Slot {
    Kept(Arc<PluginEntry>),
    Load(Box<discovery::PluginFile>, Option<Arc<PluginEntry>>),
}

impl PluginManager {
    /// Rescans the plugins folder: new files load, changed files replace their plugin,
    /// removed files unload. A file that fails to load leaves its previous version serving.
    pub async fn reload(&self) {
        let one_at_a_time = self.inner.reload_lock.lock().await;
        let previous = self.inner.registry.load_full();
        let mut next = previous.successor();
        next.load_errors = previous.native_errors.clone();
        // The folder's plugins, as this rescan leaves them.
        let mut files_next: Vec<Arc<PluginEntry>> = Vec::new();
        let mut retired: Vec<Arc<PluginEntry>> = Vec::new();
        let mut scan_failed = false;
        let files = match discovery::scan(&self.inner.config.plugins_dir) {
            Ok(files) => files,
            Err(e) => {
                scan_failed = true;
                tracing::warn!(error = %e, "plugins folder unreadable; keeping what is loaded");
                next.load_errors.push(LoadError {
                    file: self.inner.config.plugins_dir.display().to_string(),
                    plugin: None,
                    error: e.to_string(),
                });
                previous
                    .order
                    .iter()
                    .filter(|e| e.source.is_some())
                    .for_each(|e| files_next.push(e.clone()));
                Vec::new()
            }
        };
        let mut seen_sources = Vec::new();
        let mut slots = Vec::new();
        let mut declared = BTreeMap::new();
        let was_declared = self.inner.manifest_mcp.lock().clone();
        let was_files = self.inner.manifest_mcp_files.lock().clone();
        let mut server_files = BTreeMap::new();
        for file in files {
            seen_sources.push(file.path.clone());
            if file.is_manifest_only() {
                let name = &file.name.name;
                match &file.manifest {
                    Ok(Some(
                        manifest @ Manifest {
                            mcp: Some(server), ..
                        },
                    )) => {
                        let refused = if self.inner.config.mcp_servers.contains_key(name) {
                            Some(format!(
                                "MCP server '{name}' is already configured in the config file"
                            ))
                        } else {
                            manifest
                                .check_kind(PluginKind::Mcp)
                                .err()
                                .map(|e| format!("{}: {e}", file.path.display()))
                        };
                        match refused {
                            Some(error) => next.load_errors.push(LoadError {
                                file: file.path.display().to_string(),
                                plugin: None,
                                error,
                            }),
                            None => {
                                declared.insert(name.clone(), server.clone());
                                server_files
                                    .insert(name.clone(), server_stamps(&file.path, server));
                            }
                        }
                        continue;
                    }
                    // A manifest that no longer parses keeps its server running.
                    Err(_) if was_declared.contains_key(name) => {
                        declared.insert(name.clone(), was_declared[name].clone());
                        if let Some(files) = was_files.get(name) {
                            server_files.insert(name.clone(), files.clone());
                        }
                    }
                    _ => {}
                }
            }
            let old = previous
                .order
                .iter()
                .find(|e| e.source.as_deref() == Some(file.path.as_path()))
                .cloned();
            if let Some(old) = &old
                && old.fingerprint.as_ref() == Some(&file.fingerprint)
                && !old.helpers_changed()
            {
                slots.push(Slot::Kept(old.clone()));
                continue;
            }
            slots.push(Slot::Load(Box::new(file), old));
        }
        let to_load = slots.iter().filter(|s| matches!(s, Slot::Load(..))).count();
        self.inner.load_total.store(to_load, Ordering::Relaxed);
        self.inner.load_done.store(0, Ordering::Relaxed);
        // Files load concurrently, a few at a time (a Python worker's start is mostly the
        // interpreter's own work), and are listed in folder order whatever order they finish.
        let loaded: Vec<_> = futures::stream::iter(slots.into_iter().map(|slot| async move {
            match slot {
                Slot::Kept(entry) => (None, Some(entry), Ok(None)),
                Slot::Load(file, old) => {
                    let result = self.load_file(&file).await;
                    self.inner.load_done.fetch_add(1, Ordering::Relaxed);
                    (Some(file), old, result)
                }
            }
        }))
        .buffered(LOAD_CONCURRENCY)
        .collect()
        .await;
        for (file, old, result) in loaded {
            let Some(file) = file else {
                files_next.extend(old);
                continue;
            };
            match result {
                Ok(Some(entry)) => {
                    if let Some(old) = old {
                        retired.push(old);
                    }
                    files_next.push(entry);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(file = %file.path.display(), %error, "plugin failed to load");
                    next.load_errors.push(LoadError {
                        file: file.path.display().to_string(),
                        plugin: Some(file.name.name.clone()),
                        error,
                    });
                    if let Some(old) = old {
                        files_next.push(old);
                    }
                }
            }
        }
        for entry in previous.order.iter().filter(|e| e.source.is_some()) {
            let gone = entry
                .source
                .as_ref()
                .is_some_and(|s| !seen_sources.contains(s));
            if gone {
                retired.push(entry.clone());
            }
        }
        next.load_errors
            .extend(self.inner.group_errors.lock().values().cloned());
        // Built-ins first, but those a file now has the name of step aside (kept alive, out
        // of the list) until the file goes; then the MCP servers' tools; then the folder.
        next.order = next
            .natives
            .iter()
            .filter(|native| !files_next.iter().any(|f| f.info.name == native.info.name))
            .cloned()
            .collect();
        next.order
            .extend(previous.order.iter().filter(|e| e.group.is_some()).cloned());
        next.order.extend(files_next);
        self.publish(&previous, next, retired);
        if scan_failed {
            declared = was_declared;
            server_files = was_files;
        }
        let (start, stop) = self.declare_mcp_servers(declared, server_files);
        // Servers publish their tools under the reload lock: start and stop them without it.
        drop(one_at_a_time);
        for name in stop {
            self.stop_mcp_server(&name).await;
        }
        for (name, config) in start {
            if config.enabled {
                self.start_mcp_server(&name, config).await;
            } else {
                self.stop_mcp_server(&name).await;
            }
        }
    }

    /// Records the MCP servers the folder's manifests now declare, and answers which to
    /// (re)start and which to stop.
    /// A server restarts when its `[mcp]` table or one of its files changed.
    fn declare_mcp_servers(
        &self,
        declared: BTreeMap<String, McpServerConfig>,
        files: BTreeMap<String, Vec<crate::registry::FileStamp>>,
    ) -> (Vec<(String, McpServerConfig)>, Vec<String>) {
        let mut running = self.inner.manifest_mcp.lock();
        let mut running_files = self.inner.manifest_mcp_files.lock();
        let start = declared
            .iter()
            .filter(|(name, config)| {
                running.get(*name) != Some(*config) || running_files.get(*name) != files.get(*name)
            })
            .map(|(name, config)| (name.clone(), config.clone()))
            .collect();
        *running_files = files;
        let stop = running
            .keys()
            .filter(|name| !declared.contains_key(*name))
            .cloned()
            .collect();
        *running = declared;
        (start, stop)
    }

    /// Makes `next` the registry: indexes it, swaps it in, applies the run-time switches,
    /// bumps the generation if anything changed since `previous`, and retires `retired`
    /// in the background. Every change of the registry ends here, under the reload lock.
    pub(super) fn publish(
        &self,
        previous: &Registry,
        mut next: Registry,
        retired: Vec<Arc<PluginEntry>>,
    ) {
        self.index(&mut next);
        let changed = next.order.len() != previous.order.len()
            || next
                .order
                .iter()
                .zip(&previous.order)
                .any(|(a, b)| !Arc::ptr_eq(a, b))
            || next.load_errors != previous.load_errors;
        let next = Arc::new(next);
        self.inner.registry.store(next.clone());
        self.apply_overrides(&next);
        if changed {
            self.bump_generation();
        }
        for entry in retired {
            tokio::spawn(retire(entry));
        }
    }

    /// Switches each entry of `registry`, and sets its policy, as the run-time overrides say.
    fn apply_overrides(&self, registry: &Registry) {
        let overrides = self.inner.overrides.lock();
        let policies = self.inner.policy_overrides.lock();
        for entry in &registry.order {
            if let Some(&enabled) = overrides.get(&entry.info.name) {
                entry.set_enabled(enabled);
            }
            if let Some(&policy) = policies.get(&entry.info.name) {
                entry.set_policy(policy);
            }
        }
    }
}

/// The files an MCP server declared by `manifest` is made of, stamped: the manifest, and each
/// of its `args` that names a file (relative ones from the manifest's folder), such as the
/// server's script.
fn server_stamps(
    manifest: &std::path::Path,
    server: &McpServerConfig,
) -> Vec<crate::registry::FileStamp> {
    let folder = manifest.parent().unwrap_or(std::path::Path::new("."));
    std::iter::once(manifest.to_owned())
        .chain(
            server
                .args
                .iter()
                .map(|arg| folder.join(arg))
                .filter(|path| path.is_file()),
        )
        .map(|path| {
            let stamp = crate::registry::file_stamp(&path);
            (path, stamp)
        })
        .collect()
}
