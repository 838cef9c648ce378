//! The errors a plugin call can end in, as variants a caller can match.

use std::time::Duration;

/// Why a plugin call (or load) failed.
///
/// The HTTP edge maps each variant to a status and a stable error code;
/// keep messages free of secrets, they may reach the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    /// No plugin has that name or alias.
    #[error("plugin '{name}' not found{}", suggestion_text(.suggestion))]
    NotFound {
        name: String,
        suggestion: Option<String>,
    },
    /// The plugin's file is in the plugins folder but did not load; `error` says why (as
    /// `load_errors` lists it), so a caller sees the cause where it calls the plugin.
    #[error("plugin '{name}' did not load from {file}: {error}")]
    LoadFailed {
        name: String,
        file: String,
        error: String,
    },
    /// The plugin exists but is disabled.
    #[error("plugin '{0}' is disabled")]
    Disabled(String),
    /// The plugin rejected its input.
    #[error("{0}")]
    InvalidInput(String),
    /// The call did not finish in time.
    #[error("plugin '{plugin}' timed out after {} ms", .after.as_millis())]
    Timeout { plugin: String, after: Duration },
    /// The plugin's process or instance died (panic, crash, exit).
    #[error("plugin crashed: {0}")]
    Crashed(String),
    /// The plugin is listed but cannot run here (no model configured, a build without its
    /// feature, a model that failed to load); the message says why and what enables it.
    #[error("{0}")]
    Unavailable(String),
    /// The plugin asked for something it is not allowed to do.
    #[error("denied: {0}")]
    Denied(String),
    /// The caller cancelled the call (a cancel request, the client going away, the turn
    /// being stopped) before it finished. The work itself was stopped: a Python worker
    /// killed and replaced, a Wasm call interrupted, an MCP server sent
    /// `notifications/cancelled`, a native plugin's token cancelled.
    #[error("the call was cancelled")]
    Cancelled,
    /// The result was larger than the configured cap.
    #[error("plugin output of {size} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge { size: usize, limit: usize },
    /// The plugin's own code failed and said why: a Python exception, an error a Wasm
    /// module returned, an MCP tool's error result. Its kind and message reach the caller;
    /// the traceback is kept for the log, and for callers under the server's `debug`.
    #[error("{}{message}", kind_prefix(.kind))]
    Raised {
        /// The exception's type (`ZeroDivisionError`); `None` when the plugin gave none.
        kind: Option<String>,
        message: String,
        traceback: Option<String>,
    },
    /// Any other failure inside the plugin.
    #[error("{0}")]
    Failed(String),
}

fn kind_prefix(kind: &Option<String>) -> String {
    match kind {
        Some(kind) => format!("{kind}: "),
        None => String::new(),
    }
}

fn suggestion_text(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean '{s}'?"),
        None => String::new(),
    }
}

impl PluginError {
    pub fn invalid_input(message: impl Into<String>) -> Self {
        PluginError::InvalidInput(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        PluginError::Failed(message.into())
    }

    /// The plugin's own failure, with its kind (an exception type) when it has one.
    pub fn raised(kind: Option<String>, message: impl Into<String>) -> Self {
        PluginError::Raised {
            kind,
            message: message.into(),
            traceback: None,
        }
    }

    /// What a run's log keeps of this failure: its message, and the traceback below it
    /// when there is one.
    pub fn logged_text(&self) -> String {
        match self {
            PluginError::Raised {
                traceback: Some(traceback),
                ..
            } if !traceback.is_empty() => format!("{self}\n{traceback}"),
            other => other.to_string(),
        }
    }

    /// The stable machine code of this failure: what the HTTP edge answers with, what a
    /// failed run is logged with as its `status`, what MCP and chat report. The one source.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::NotFound { .. } => "plugin_not_found",
            PluginError::LoadFailed { .. } => "plugin_load_failed",
            PluginError::Disabled(_) => "plugin_disabled",
            PluginError::InvalidInput(_) => "invalid_input",
            PluginError::Timeout { .. } => "plugin_timeout",
            PluginError::Crashed(_) => "plugin_crashed",
            PluginError::Unavailable(_) => "plugin_unavailable",
            PluginError::Denied(_) => "plugin_denied",
            PluginError::Cancelled => "cancelled",
            PluginError::OutputTooLarge { .. } => "plugin_output_too_large",
            PluginError::Raised { .. } | PluginError::Failed(_) => "plugin_failed",
        }
    }
}

/// The message a panic carried, for panics caught at a boundary (a plugin call, a handler).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

pub type Result<T, E = PluginError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_message_carries_the_suggestion() {
        let err = PluginError::NotFound {
            name: "calculater".into(),
            suggestion: Some("calculator".into()),
        };
        assert_eq!(
            err.to_string(),
            "plugin 'calculater' not found; did you mean 'calculator'?"
        );
    }
}
