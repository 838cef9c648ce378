//! `ApiError`: every failure a route can answer, mapped to a status and one JSON
//! envelope `{"error": {"code", "message"}}` with a stable machine `code`.
//!
//! The codes come from the domain errors themselves (`PluginError::code`,
//! `StoreError::code`, `ChatError::code`), so an answer, a log event and a stream event
//! say the same thing; this module adds only the status and what a client may read.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use codex_agent::chat::ChatError;
use codex_agent::{CancelError, ExecuteError};
use codex_plugin::PluginError;
use codex_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The status of a cancelled call or turn: 499 "Client Closed Request", as nginx logs a
/// request its client gave up on. Not a registered status; clients read the `cancelled` code.
pub const CANCELLED: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A plugin call failed. The status follows the failure: 404 `plugin_not_found` (with a
    /// "did you mean"), 403 `plugin_disabled` and `plugin_denied`, 422 `invalid_input`,
    /// 504 `plugin_timeout`, 502 `plugin_crashed` and `plugin_output_too_large`, 409
    /// `plugin_unavailable` (listed but not set up here; the message says what enables it),
    /// 500 `plugin_failed` (generic message, the cause is logged), 499 `cancelled` (the call
    /// was cancelled before it finished; see [`CANCELLED`]).
    #[error("{}", plugin_message(.plugin, .error))]
    Plugin { plugin: String, error: PluginError },
    /// 400 `invalid_request`: malformed JSON, a missing or mistyped field.
    #[error("{0}")]
    InvalidRequest(String),
    /// 413 `payload_too_large`.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 401 `unauthorized`.
    #[error("a valid API key is required")]
    Unauthorized,
    /// 403 `forbidden`: the key is valid but its role or grants do not cover this (an admin
    /// route, a plugin it was not granted).
    #[error("{0}")]
    Forbidden(String),
    /// 429 `rate_limited`, with `Retry-After` (whole seconds): the key's or the model
    /// providers' rate is used up.
    #[error("too many requests: retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 404 `not_found`: no such thing (a key name, a session this key may not see).
    #[error("{0}")]
    NotFound(String),
    /// 409 `conflict`: the request clashes with what is stored (a key name in use).
    #[error("{0}")]
    Conflict(String),
    /// 403 `origin_not_allowed`: a browser request to `/mcp` from an origin that is not
    /// loopback nor allowed in the config (DNS-rebinding protection).
    #[error("origin '{0}' is not allowed")]
    OriginNotAllowed(String),
    /// 404 `not_found`: no such route.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// 405 `method_not_allowed`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 404 `not_running`: no execution or turn runs under that id here (it finished, or
    /// never existed).
    #[error("{0}")]
    NotRunning(CancelError),
    /// 409 `run_id_in_use`: an execution is already running under the run id asked for.
    #[error("an execution with run id {0} is already running")]
    RunIdInUse(uuid::Uuid),
    /// 500 `internal_error`: generic message, the cause is logged.
    #[error("internal server error")]
    Internal(String),
    /// A chat turn or completion that gave no reply: 400 `invalid_request` (a bad session
    /// id or request), 409 `no_model`, 502 `provider_error` (the message lists each
    /// provider's failure), 499 `cancelled`, or the store's failure as [`ApiError::Store`]
    /// answers it.
    #[error("{}", chat_message(.0))]
    Chat(ChatError),
    /// 503 `store_unavailable` when the database cannot be reached or the store is closed,
    /// 500 `store_error` otherwise: generic message, the cause is logged.
    #[error("the event store failed")]
    Store(StoreError),
    /// A failed plugin run that was logged: the plugin's error, answered with the id of the
    /// `plugin_execution` event that records it.
    #[error("{error}")]
    Logged {
        error: Box<ApiError>,
        execution_id: String,
    },
}

/// What a client reads of a plugin failure: everything but a `Failed` cause, which may
/// hold the plugin's internals and is logged instead.
fn plugin_message(plugin: &str, error: &PluginError) -> String {
    match error {
        PluginError::Failed(_) => format!("plugin '{plugin}' failed"),
        PluginError::Raised { .. } => format!("plugin '{plugin}' failed: {error}"),
        PluginError::Crashed(message) | PluginError::Denied(message) => message.clone(),
        other => other.to_string(),
    }
}

fn chat_message(error: &ChatError) -> String {
    match error {
        ChatError::Store(_) => "the event store failed".to_owned(),
        other => other.to_string(),
    }
}

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// The message again, where FastAPI clients (the original project's) read it.
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `plugin_not_found`, `invalid_request`, ...
    pub code: &'static str,
    pub message: String,
    /// For `plugin_not_found`: the closest known plugin name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// For a failed plugin run: the id of the `plugin_execution` event that logged it, as
    /// `/plugin-logs` and `/memory/audit` show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// For a plugin's own failure: the exception type it raised (`ZeroDivisionError`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// For a plugin's own failure, under the server's `debug` with no API key configured:
    /// the plugin's traceback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

tokio::task_local! {
    /// Whether the error bodies of the request being served may carry plugin tracebacks:
    /// set around every request by the router from the server's `debug` and its keys.
    pub static SHOW_TRACEBACKS: bool;
}

impl ApiError {
    /// Attributes a plugin error to the plugin that raised it.
    pub fn from_plugin(plugin: &str, error: PluginError) -> Self {
        ApiError::Plugin {
            plugin: plugin.to_owned(),
            error,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Logged { error, .. } => error.status(),
            ApiError::Plugin { error, .. } => match error {
                PluginError::NotFound { .. } => StatusCode::NOT_FOUND,
                // The plugin is there but broken: the server's state, as for an unavailable one.
                PluginError::LoadFailed { .. } => StatusCode::CONFLICT,
                PluginError::Disabled(_) | PluginError::Denied(_) => StatusCode::FORBIDDEN,
                PluginError::InvalidInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
                PluginError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                PluginError::Crashed(_) | PluginError::OutputTooLarge { .. } => {
                    StatusCode::BAD_GATEWAY
                }
                // Listed but not set up here (`huggingface` without a model): the server's
                // configuration, which the caller can read and fix, not a failure (a 5xx would
                // count as a server error in monitoring).
                PluginError::Unavailable(_) => StatusCode::CONFLICT,
                PluginError::Raised { .. } | PluginError::Failed(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                PluginError::Cancelled => CANCELLED,
            },
            ApiError::RouteNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotRunning(_) => StatusCode::NOT_FOUND,
            ApiError::RunIdInUse(_) => StatusCode::CONFLICT,
            ApiError::Chat(error) => match error {
                ChatError::InvalidSession(_) | ChatError::BadRequest(_) => StatusCode::BAD_REQUEST,
                // A server without a model is configured so, not failing: asking it for a
                // model's answer conflicts with its state, as a client can tell and fix.
                ChatError::NoModel => StatusCode::CONFLICT,
                ChatError::Provider { .. } => StatusCode::BAD_GATEWAY,
                ChatError::Store(error) => store_status(error),
                ChatError::Cancelled => CANCELLED,
            },
            ApiError::Store(error) => store_status(error),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Logged { error, .. } => error.code(),
            ApiError::Plugin { error, .. } => error.code(),
            ApiError::Chat(error) => error.code(),
            ApiError::Store(error) => error.code(),
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Conflict(_) => "conflict",
            ApiError::NotFound(_) => "not_found",
            ApiError::OriginNotAllowed(_) => "origin_not_allowed",
            ApiError::RouteNotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::NotRunning(_) => "not_running",
            ApiError::RunIdInUse(_) => "run_id_in_use",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The envelope a client reads; a 5xx cause is logged here, once.
    pub fn body(&self) -> ErrorBody {
        let (error, execution_id) = match self {
            ApiError::Logged {
                error,
                execution_id,
            } => (error.as_ref(), Some(execution_id.clone())),
            error => (error, None),
        };
        match error {
            ApiError::Plugin {
                plugin,
                error: PluginError::Failed(cause),
            } => tracing::error!(plugin = %plugin, cause = %cause, "plugin failed"),
            ApiError::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            ApiError::Store(cause) | ApiError::Chat(ChatError::Store(cause)) => {
                tracing::error!(cause = %cause, "store error")
            }
            ApiError::Chat(cause @ ChatError::Provider { .. }) => {
                tracing::warn!(error = %cause, "model providers failed")
            }
            _ => {}
        }
        let suggestion = match error {
            ApiError::Plugin {
                error: PluginError::NotFound { suggestion, .. },
                ..
            } => suggestion.clone(),
            _ => None,
        };
        let (exception, traceback) = match error {
            ApiError::Plugin {
                error:
                    PluginError::Raised {
                        kind, traceback, ..
                    },
                ..
            } => (
                kind.clone(),
                traceback
                    .clone()
                    .filter(|_| SHOW_TRACEBACKS.try_with(|show| *show).unwrap_or(false)),
            ),
            _ => (None, None),
        };
        let message = error.to_string();
        ErrorBody {
            detail: message.clone(),
            error: ErrorDetail {
                code: error.code(),
                message,
                suggestion,
                execution_id,
                exception,
                traceback,
            },
        }
    }
}

fn store_status(error: &StoreError) -> StatusCode {
    match error.code() {
        "invalid_request" => StatusCode::BAD_REQUEST,
        "store_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<PluginError> for ApiError {
    fn from(error: PluginError) -> Self {
        let plugin = match &error {
            PluginError::NotFound { name, .. } | PluginError::LoadFailed { name, .. } => {
                name.clone()
            }
            PluginError::Disabled(name) => name.clone(),
            PluginError::Timeout { plugin, .. } => plugin.clone(),
            _ => String::from("(unknown)"),
        };
        ApiError::from_plugin(&plugin, error)
    }
}

impl From<StoreError> for ApiError {
    /// A refused session id or query is the client's fault; anything else is the store's.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidEvent(message) | StoreError::InvalidQuery(message) => {
                ApiError::InvalidRequest(message)
            }
            StoreError::Conflict(message) => ApiError::Conflict(message),
            error => ApiError::Store(error),
        }
    }
}

impl From<ExecuteError> for ApiError {
    fn from(error: ExecuteError) -> Self {
        match error {
            ExecuteError::InvalidSession(error) | ExecuteError::Store(error) => error.into(),
            ExecuteError::RunIdInUse(id) => ApiError::RunIdInUse(id),
            ExecuteError::Plugin {
                plugin,
                error,
                execution_id,
            } => ApiError::Logged {
                error: Box::new(ApiError::from_plugin(&plugin, error)),
                execution_id: execution_id.to_string(),
            },
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(error: CancelError) -> Self {
        ApiError::NotRunning(error)
    }
}

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> Self {
        ApiError::Chat(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The executor logged `not_found` where the API answered `plugin_not_found`: the
    // answer's code must be the domain error's own code, whatever the route.
    #[test]
    fn codes_come_from_the_domain_errors() {
        let errors = [
            PluginError::NotFound {
                name: "x".into(),
                suggestion: None,
            },
            PluginError::Disabled("x".into()),
            PluginError::invalid_input("bad"),
            PluginError::Crashed("gone".into()),
            PluginError::Denied("no".into()),
            PluginError::Unavailable("not set up".into()),
            PluginError::LoadFailed {
                name: "x".into(),
                file: "x_plugin.py".into(),
                error: "SyntaxError".into(),
            },
            PluginError::failed("cause"),
        ];
        for error in errors {
            let code = error.code();
            assert_eq!(ApiError::from_plugin("x", error).code(), code);
        }
        for error in [ChatError::NoModel, ChatError::BadRequest("b".into())] {
            let code = error.code();
            assert_eq!(ApiError::from(error).code(), code);
        }
        let invalid = ChatError::InvalidSession(StoreError::InvalidEvent("empty".into()));
        assert_eq!(ApiError::from(invalid).status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::from(ChatError::Store(StoreError::Closed)).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    // Was 503: an unavailable plugin is the server's configuration, not a server error
    // (issue 17).
    fn an_unavailable_plugin_is_409_with_its_reason() {
        let error = ApiError::from_plugin("p", PluginError::Unavailable("set x".into()));
        assert_eq!(error.status(), StatusCode::CONFLICT);
        assert_eq!(error.code(), "plugin_unavailable");
        assert_eq!(error.to_string(), "set x");
    }

    #[test]
    fn a_cancelled_call_and_turn_answer_499_cancelled() {
        let call = ApiError::from_plugin("p", PluginError::Cancelled);
        assert_eq!((call.status().as_u16(), call.code()), (499, "cancelled"));
        let turn = ApiError::from(ChatError::Cancelled);
        assert_eq!((turn.status().as_u16(), turn.code()), (499, "cancelled"));
    }

    #[test]
    fn a_failed_plugin_keeps_its_cause_out_of_the_answer() {
        let error = ApiError::from_plugin("p", PluginError::failed("secret"));
        assert_eq!(error.to_string(), "plugin 'p' failed");
    }
}
