//! The enabled plugins offered as tools in one place (a chat turn, `/api/tools`, the MCP
//! server), keyed by tool name, and the way back from a tool call to its plugin.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::{ToolDefinition, tool_definition, tool_input, tool_name};
use crate::registry::PluginEntry;

/// The tools offered from a list of plugins: every enabled plugin not excluded, keyed by its
/// [`tool_name`]. Two plugins whose names sanitise to one tool name cannot both be offered:
/// the first in the list keeps it.
#[derive(Debug, Clone, Default)]
pub struct Toolbox {
    tools: BTreeMap<String, Arc<PluginEntry>>,
}

impl Toolbox {
    /// The enabled plugins of `entries` (in load order) as tools, leaving out those whose
    /// canonical name is in `exclude`.
    pub fn new<S: AsRef<str>>(
        entries: impl IntoIterator<Item = Arc<PluginEntry>>,
        exclude: &[S],
    ) -> Self {
        let mut tools = BTreeMap::new();
        for entry in entries {
            if !entry.is_enabled() || exclude.iter().any(|e| e.as_ref() == entry.name()) {
                continue;
            }
            tools.entry(tool_name(entry.name())).or_insert(entry);
        }
        Toolbox { tools }
    }

    /// The tool definitions, sorted by tool name; each function is named by its tool name.
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.tools
            .iter()
            .map(|(name, entry)| {
                let mut definition = tool_definition(entry);
                definition.function.name.clone_from(name);
                definition
            })
            .collect()
    }

    /// The plugin a model's call of tool `tool_name` goes to.
    pub fn resolve(&self, tool_name: &str) -> Option<&Arc<PluginEntry>> {
        self.tools.get(tool_name)
    }

    /// The plugin input for a call of `entry`'s tool with `arguments` (a wrapped `data`
    /// unwrapped again).
    pub fn input(entry: &PluginEntry, arguments: Value) -> Value {
        tool_input(entry, arguments)
    }

    /// Takes tool `tool_name` out of the box (a client's own tool of that name wins).
    pub fn remove(&mut self, tool_name: &str) -> Option<Arc<PluginEntry>> {
        self.tools.remove(tool_name)
    }

    /// The tool names with their plugins, sorted by tool name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<PluginEntry>)> {
        self.tools
            .iter()
            .map(|(name, entry)| (name.as_str(), entry))
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

#[cfg(test)]
mod tests;
