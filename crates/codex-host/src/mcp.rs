//! MCP servers as plugins: each configured server is supervised (started, restarted with
//! backoff, stopped at shutdown) and each of its tools becomes a plugin `<server>__<tool>`.

mod config;
mod server;

pub use config::{McpServerConfig, Transport, is_refused_env};
pub(crate) use server::Supervisor;

/// The separator between the server and the tool in a plugin name.
const SEPARATOR: &str = "__";

/// The plugin name of tool `tool` of server `server`: the one place names are mapped.
///
/// Characters outside `[A-Za-z0-9_-]` become `_`, and a name changed that way gets a short
/// hash of the original tool name, so two tools never map to one plugin name. The way back,
/// from plugin name to tool, is [`tool_name`] and needs the server's tool list, because the
/// mapping cannot be inverted from the plugin name alone.
pub fn plugin_name(server: &str, tool: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == tool && !tool.is_empty() {
        format!("{server}{SEPARATOR}{tool}")
    } else {
        format!("{server}{SEPARATOR}{clean}_{:08x}", fnv1a(tool) as u32)
    }
}

/// The original name of the tool among `tools` that plugin `plugin` stands for.
pub fn tool_name<'a>(
    plugin: &str,
    server: &str,
    tools: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    tools.into_iter().find(|t| plugin_name(server, t) == plugin)
}

/// The run-time group id of a server's plugins in the registry.
pub(crate) fn group_id(server: &str) -> String {
    format!("mcp:{server}")
}

/// FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(server: &str, tool: &str, expected: &str) {
        let name = plugin_name(server, tool);
        assert_eq!(name, expected);
        assert_eq!(tool_name(&name, server, [tool, "other"]), Some(tool));
    }

    #[test]
    fn names_map_both_ways() {
        check("everything", "echo", "everything__echo");
        check("time", "get_current_time", "time__get_current_time");
        check("fs", "read-file", "fs__read-file");
        let dotted = plugin_name("fs", "read.file");
        assert!(dotted.starts_with("fs__read_file_"), "{dotted}");
        assert!(codex_plugin::naming::is_valid_name(&dotted));
        assert_ne!(dotted, plugin_name("fs", "read file"));
        assert_eq!(dotted, plugin_name("fs", "read.file"));
        assert_eq!(
            tool_name(&dotted, "fs", ["read_file", "read.file"]),
            Some("read.file")
        );
    }
}
