//! `[mcp.servers.<name>]` and a manifest's `[mcp]` table: how to reach one MCP server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One MCP server: either a command run over stdio, or a streamable HTTP `url`.
///
/// The fields are flat (no nested transport table) so that `deny_unknown_fields` can name a
/// misspelt key; [`McpServerConfig::validate`] checks that exactly one transport is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Stdio: the program to run.
    pub command: Option<String>,
    /// Stdio: its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Stdio: variables added to the inherited environment (hijacking ones are refused).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Stdio: the working directory.
    pub cwd: Option<PathBuf>,
    /// Streamable HTTP: the endpoint.
    pub url: Option<String>,
    /// Streamable HTTP: headers sent with every request (`Authorization`, ...).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A disabled server is not started.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How long one tool call may take before it is cancelled (default 30 s).
    pub timeout_ms: Option<u64>,
    /// Only these tools become plugins (original tool names); all when absent.
    pub tools: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// How a server is reached, once the config is validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport<'a> {
    Stdio { command: &'a str },
    Http { url: &'a str },
}

/// Variables that change which code a child process runs (its binary lookup, the dynamic
/// loader, interpreter start-up): an MCP server config may not set them.
const REFUSED_ENV: &[&str] = &[
    "PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONINSPECT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_REPL_EXTERNAL_MODULE",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "BASH_ENV",
    "ENV",
    "SHELLOPTS",
    "PS4",
    "IFS",
    "GCONV_PATH",
    "HOSTALIASES",
    "LOCPATH",
    "NLSPATH",
];

/// Prefixes of refused variables: the dynamic loaders' (`LD_PRELOAD`, `LD_LIBRARY_PATH`,
/// `LD_AUDIT`, `DYLD_INSERT_LIBRARIES`, ...) and glibc's malloc hooks.
const REFUSED_ENV_PREFIXES: &[&str] = &["LD_", "DYLD_", "MALLOC_"];

/// Whether `name` is an environment variable a server config may not set.
pub fn is_refused_env(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    REFUSED_ENV.contains(&upper.as_str())
        || REFUSED_ENV_PREFIXES.iter().any(|p| upper.starts_with(p))
}

impl McpServerConfig {
    /// A stdio server running `command`.
    pub fn stdio(
        command: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        McpServerConfig {
            command: Some(command.into()),
            args: args.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            cwd: None,
            url: None,
            headers: BTreeMap::new(),
            enabled: true,
            timeout_ms: None,
            tools: None,
        }
    }

    /// A streamable HTTP server at `url`.
    pub fn http(url: impl Into<String>) -> Self {
        McpServerConfig {
            command: None,
            url: Some(url.into()),
            ..McpServerConfig::stdio("", Vec::<String>::new())
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(30_000))
    }

    /// Whether tool `tool` (its original name) is allowed by the `tools` list.
    pub fn allows(&self, tool: &str) -> bool {
        self.tools
            .as_ref()
            .is_none_or(|t| t.iter().any(|n| n == tool))
    }

    /// Checks the config; the error says what is wrong and names the key or variable.
    pub fn validate(&self) -> Result<Transport<'_>, String> {
        if let Some(name) = self.env.keys().find(|k| is_refused_env(k)) {
            return Err(format!(
                "env: setting {name} is refused, it could make the server run other code"
            ));
        }
        match (&self.command, &self.url) {
            (Some(command), None) if !command.trim().is_empty() => {
                if !self.headers.is_empty() {
                    return Err("headers: only for an HTTP server (url)".to_owned());
                }
                Ok(Transport::Stdio { command })
            }
            (None, Some(url)) if url.starts_with("http://") || url.starts_with("https://") => {
                if !self.args.is_empty() || !self.env.is_empty() || self.cwd.is_some() {
                    return Err(
                        "args, env and cwd are only for a stdio server (command)".to_owned()
                    );
                }
                Ok(Transport::Http { url })
            }
            (None, Some(url)) => Err(format!("url: '{url}' is not an http(s) URL")),
            (Some(_), Some(_)) => {
                Err("give either command (stdio) or url (HTTP), not both".to_owned())
            }
            _ => Err("give command (stdio) or url (streamable HTTP)".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<McpServerConfig, String> {
        toml::from_str(text).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn hijacking_variables_are_refused_by_name() {
        for name in [
            "PATH",
            "LD_PRELOAD",
            "ld_library_path",
            "DYLD_INSERT_LIBRARIES",
            "PYTHONPATH",
            "NODE_OPTIONS",
        ] {
            let mut config = McpServerConfig::stdio("server", ["--stdio"]);
            config.env.insert(name.to_owned(), "/tmp/evil".to_owned());
            let err = config.validate().unwrap_err();
            assert!(err.contains(name), "{err}");
        }
        let mut config = McpServerConfig::stdio("server", Vec::<String>::new());
        config.env.insert("API_KEY".to_owned(), "k".to_owned());
        assert_eq!(
            config.validate(),
            Ok(Transport::Stdio { command: "server" })
        );
    }

    #[test]
    fn one_transport_exactly() {
        let c = parse("command = \"x\"\nurl = \"http://a\"").unwrap();
        assert!(c.validate().unwrap_err().contains("not both"));
        let c = parse("enabled = true").unwrap();
        assert!(c.validate().is_err());
        let c =
            parse("url = \"http://127.0.0.1:1/mcp\"\nheaders = { Authorization = \"Bearer x\" }")
                .unwrap();
        assert!(matches!(c.validate(), Ok(Transport::Http { .. })));
        assert!(parse("comand = \"x\"").unwrap_err().contains("comand"));
    }
}
