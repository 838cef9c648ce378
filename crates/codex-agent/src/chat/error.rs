//! Why a turn gave no reply. Plugin failures are not here: they are part of the reply.

use codex_store::StoreError;

use super::provider::ProviderFailure;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("invalid session id: {0}")]
    InvalidSession(StoreError),
    #[error("no language model is configured")]
    NoModel,
    #[error("the model providers failed: {}", list(failures))]
    Provider { failures: Vec<ProviderFailure> },
    /// The client's request is invalid (`/v1/chat/completions`).
    #[error("{0}")]
    BadRequest(String),
    #[error("the session log is unavailable: {0}")]
    Store(StoreError),
    /// The turn was cancelled (`POST /api/turns/{id}/cancel`, the client going away): the
    /// model request was dropped and running tool calls were cancelled. What was logged
    /// before stays logged.
    #[error("the turn was cancelled")]
    Cancelled,
}

impl ChatError {
    /// The stable machine code, from the one vocabulary the HTTP edge answers with.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::InvalidSession(error) | ChatError::Store(error) => error.code(),
            ChatError::NoModel => "no_model",
            ChatError::Provider { .. } => "provider_error",
            ChatError::BadRequest(_) => "invalid_request",
            ChatError::Cancelled => "cancelled",
        }
    }
}

fn list(failures: &[ProviderFailure]) -> String {
    if failures.is_empty() {
        return "no provider answered".to_owned();
    }
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
