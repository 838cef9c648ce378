//! What a plugin sees of the world during a call: session, deadline, cancellation, where
//! to report progress, and read-only views of memory and of the other plugins.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{PluginInfo, PluginKind, Result};

/// One stored chat message, as plugins see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryMessage {
    pub role: String,
    pub content: String,
    /// RFC 3339 timestamp.
    pub timestamp: String,
}

/// Read access to a session's memory.
#[async_trait]
pub trait MemoryView: Send + Sync {
    /// The last messages since the last reset (the context a model would get).
    async fn short(&self, session_id: &str) -> Result<Vec<MemoryMessage>>;
    /// Every message of the session, resets included as system messages.
    async fn full(&self, session_id: &str) -> Result<Vec<MemoryMessage>>;
}

/// A plugin as listed to other plugins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginSummary {
    #[serde(flatten)]
    pub info: PluginInfo,
    pub kind: PluginKind,
    pub enabled: bool,
    pub aliases: Vec<String>,
    /// When the plugin's file last changed (RFC 3339); `None` for plugins without a file.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The built-in plugin this file plugin stands in for, if any.
    #[serde(default)]
    pub shadows: Option<String>,
}

/// Read access to the plugin list.
pub trait PluginDirectory: Send + Sync {
    fn plugins(&self) -> Vec<PluginSummary>;
}

/// How far a running call has got: a fraction done (0.0 to 1.0) and/or a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Progress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Progress {
    /// A report with a fraction (clamped to 0.0..=1.0; NaN is dropped) and/or a message.
    pub fn new(fraction: Option<f64>, message: Option<String>) -> Self {
        Progress {
            fraction: fraction.filter(|f| !f.is_nan()).map(|f| f.clamp(0.0, 1.0)),
            message,
        }
    }
}

/// Where a call's progress reports go (the caller's stream, an MCP client). Called from
/// any thread, also from blocking ones: it must not block.
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

/// The context of one call.
#[derive(Clone)]
pub struct ExecContext {
    pub session_id: String,
    /// The call must be finished by then; the host enforces it, plugins may use it
    /// to bound their own waits.
    pub deadline: Instant,
    /// Cancelled when the caller gives up (timeout, client gone, shutdown).
    pub cancel: CancellationToken,
    pub memory: Option<Arc<dyn MemoryView>>,
    pub plugins: Option<Arc<dyn PluginDirectory>>,
    /// Plugin-specific configuration from the config file or manifest.
    pub config: Arc<Value>,
    /// Where [`ExecContext::report_progress`] sends reports; `None` when nobody listens.
    pub progress: Option<ProgressSink>,
}

impl ExecContext {
    pub fn new(session_id: impl Into<String>, deadline: Instant) -> Self {
        ExecContext {
            session_id: session_id.into(),
            deadline,
            cancel: CancellationToken::new(),
            memory: None,
            plugins: None,
            config: Arc::new(Value::Null),
            progress: None,
        }
    }

    pub fn with_progress(mut self, progress: Option<ProgressSink>) -> Self {
        self.progress = progress;
        self
    }

    /// Reports how far the call has got; nothing happens when nobody listens.
    pub fn report_progress(&self, progress: Progress) {
        if let Some(sink) = &self.progress {
            sink(progress);
        }
    }

    pub fn with_memory(mut self, memory: Arc<dyn MemoryView>) -> Self {
        self.memory = Some(memory);
        self
    }

    pub fn with_plugins(mut self, plugins: Arc<dyn PluginDirectory>) -> Self {
        self.plugins = Some(plugins);
        self
    }

    pub fn with_config(mut self, config: Arc<Value>) -> Self {
        self.config = config;
        self
    }

    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> std::time::Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

impl std::fmt::Debug for ExecContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecContext")
            .field("session_id", &self.session_id)
            .field("deadline", &self.deadline)
            .field("memory", &self.memory.is_some())
            .field("plugins", &self.plugins.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}
