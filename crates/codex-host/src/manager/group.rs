//! Run-time groups: the plugins of one MCP server, started and stopped with it and
//! replaced as a whole when it lists its tools, apart from folder reloads.

use std::sync::Arc;

use codex_plugin::{Plugin, PluginKind};

use super::PluginManager;
use crate::config::PluginSettings;
use crate::mcp::{McpServerConfig, Supervisor};
use crate::registry::LoadError;

impl PluginManager {
    /// What the tools of the MCP server behind `group` start from: the server's
    /// `timeout_ms`, and where it was declared (`config`, or its manifest's path).
    fn mcp_origin(&self, group: &str) -> (PluginSettings, Option<String>) {
        let Some(name) = group.strip_prefix("mcp:") else {
            return (PluginSettings::default(), None);
        };
        let settings = |server: &McpServerConfig| PluginSettings {
            timeout_ms: server.timeout_ms,
            ..PluginSettings::default()
        };
        if let Some(server) = self.inner.config.mcp_servers.get(name) {
            return (settings(server), Some("config".to_owned()));
        }
        match self.inner.manifest_mcp.lock().get(name) {
            Some(server) => (
                settings(server),
                Some(
                    self.inner
                        .config
                        .plugins_dir
                        .join(format!("{name}_plugin.toml"))
                        .display()
                        .to_string(),
                ),
            ),
            None => (PluginSettings::default(), None),
        }
    }

    /// Starts the MCP servers of the config; their tools appear as they are listed.
    pub(super) async fn start_mcp_servers(&self) {
        let servers = self.inner.config.mcp_servers.clone();
        for (name, config) in servers.into_iter().filter(|(_, c)| c.enabled) {
            self.start_mcp_server(&name, config).await;
        }
    }

    /// Starts (or restarts with a new config) the MCP server `name`.
    pub(crate) async fn start_mcp_server(&self, name: &str, config: McpServerConfig) {
        let supervisor = Supervisor::start(name, config, self.weak());
        let old = self
            .inner
            .mcp
            .lock()
            .await
            .insert(name.to_owned(), supervisor);
        if let Some(old) = old {
            old.stop().await;
        }
    }

    /// Stops the MCP server `name` and unregisters its tools.
    pub(crate) async fn stop_mcp_server(&self, name: &str) {
        let old = self.inner.mcp.lock().await.remove(name);
        if let Some(old) = old {
            old.stop().await;
        }
        let group = crate::mcp::group_id(name);
        self.replace_group(&group, PluginKind::Mcp, Vec::new(), None)
            .await;
    }

    /// Replaces every plugin of run-time group `group` (an MCP server's tools) with
    /// `plugins`, which are ready to run (no `initialize`), and records `error` as the
    /// group's load error (`None` clears it). Folder reloads keep groups as they are.
    /// A plugin whose name is already taken by another plugin is left out, with a load error.
    pub async fn replace_group(
        &self,
        group: &str,
        kind: PluginKind,
        plugins: Vec<Arc<dyn Plugin>>,
        error: Option<LoadError>,
    ) {
        let _one_at_a_time = self.inner.reload_lock.lock().await;
        let previous = self.inner.registry.load_full();
        let mut next = previous.successor();
        let mut retired = Vec::new();
        for entry in &previous.order {
            if entry.group.as_deref() == Some(group) {
                retired.push(entry.clone());
            } else {
                next.order.push(entry.clone());
            }
        }
        let mut errors = self.inner.group_errors.lock();
        errors.remove(group);
        if let Some(error) = error {
            errors.insert(group.to_owned(), error);
        }
        let (server_settings, declared_in) = self.mcp_origin(group);
        let mut clashes = Vec::new();
        for plugin in plugins {
            let info = plugin.info().clone();
            let taken = next.order.iter().any(|e| e.info.name == info.name);
            if taken || !codex_plugin::naming::is_valid_name(&info.name) {
                clashes.push(info.name);
                continue;
            }
            // The server's own limits, then the config file's for this tool.
            let settings = match self.inner.config.plugins.get(&info.name) {
                Some(configured) => server_settings.overridden_by(configured),
                None => server_settings.clone(),
            };
            let mut entry = self.entry(info, kind, plugin, None, &settings, true);
            entry.group = Some(group.to_owned());
            entry.declared_in.clone_from(&declared_in);
            next.order.push(Arc::new(entry));
        }
        if !clashes.is_empty() {
            errors.insert(
                group.to_owned(),
                LoadError {
                    file: group.to_owned(),
                    plugin: None,
                    error: format!(
                        "left out, the name is taken or invalid: {}",
                        clashes.join(", ")
                    ),
                },
            );
        }
        // The folder's errors stay; the groups' errors are rebuilt.
        let group_files: Vec<&String> = errors.keys().collect();
        next.load_errors = previous
            .load_errors
            .iter()
            .filter(|e| e.file != group && !group_files.contains(&&e.file))
            .cloned()
            .collect();
        next.load_errors.extend(errors.values().cloned());
        drop(errors);
        self.publish(&previous, next, retired);
    }
}
