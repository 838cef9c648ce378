//! `ApiError`: every failure a route can answer, mapped to a status and one JSON
//! envelope `{"error": {"code", "message"}}` with a stable machine `code`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use codex_agent::ExecuteError;
use codex_agent::chat::ChatError;
use codex_plugin::PluginError;
use codex_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404 `plugin_not_found`, with a "did you mean" when a name is close.
    #[error(transparent)]
    PluginNotFound(PluginError),
    /// 403 `plugin_disabled`.
    #[error("plugin '{0}' is disabled")]
    PluginDisabled(String),
    /// 403 `plugin_denied`: the plugin tried something it is not granted.
    #[error("{0}")]
    PluginDenied(String),
    /// 400 `invalid_request`: malformed JSON, a missing or mistyped field.
    #[error("{0}")]
    InvalidRequest(String),
    /// 413 `payload_too_large`.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 422 `invalid_input`: the plugin rejected its input.
    #[error("{0}")]
    InvalidInput(String),
    /// 504 `plugin_timeout`.
    #[error("{0}")]
    PluginTimeout(String),
    /// 502 `plugin_crashed`: the plugin's process or instance died; the message carries
    /// what it printed last, which is the plugin author's to read.
    #[error("{0}")]
    PluginCrashed(String),
    /// 502 `plugin_output_too_large`.
    #[error("{0}")]
    OutputTooLarge(String),
    /// 500 `plugin_failed`: generic message, the cause is logged.
    #[error("plugin '{plugin}' failed")]
    PluginFailed { plugin: String, cause: String },
    /// 401 `unauthorized`.
    #[error("a valid API key is required")]
    Unauthorized,
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
    /// 500 `internal_error`: generic message, the cause is logged.
    #[error("internal server error")]
    Internal(String),
    /// 503 `no_model`: the request needs a model and none is configured.
    #[error("{0}")]
    NoModel(String),
    /// 502 `provider_error`: every model provider failed; the message lists each failure.
    #[error("{0}")]
    Provider(String),
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

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
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
}

impl ApiError {
    /// Attributes a plugin error to the plugin that raised it.
    pub fn from_plugin(plugin: &str, error: PluginError) -> Self {
        match error {
            PluginError::NotFound { .. } => ApiError::PluginNotFound(error),
            PluginError::Disabled(name) => ApiError::PluginDisabled(name),
            PluginError::InvalidInput(m) => ApiError::InvalidInput(m),
            PluginError::Timeout { .. } => ApiError::PluginTimeout(error.to_string()),
            PluginError::Crashed(m) => ApiError::PluginCrashed(m),
            PluginError::Denied(m) => ApiError::PluginDenied(m),
            PluginError::OutputTooLarge { .. } => ApiError::OutputTooLarge(error.to_string()),
            PluginError::Failed(cause) => ApiError::PluginFailed {
                plugin: plugin.to_owned(),
                cause,
            },
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Logged { error, .. } => error.status(),
            ApiError::PluginNotFound(_) | ApiError::RouteNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PluginDisabled(_) | ApiError::PluginDenied(_) => StatusCode::FORBIDDEN,
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PluginTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::PluginCrashed(_) | ApiError::OutputTooLarge(_) => StatusCode::BAD_GATEWAY,
            ApiError::PluginFailed { .. } | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NoModel(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Provider(_) => StatusCode::BAD_GATEWAY,
            ApiError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Store(
                StoreError::Database(_) | StoreError::Sqlite(_) | StoreError::Closed,
            ) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Logged { error, .. } => error.code(),
            ApiError::PluginNotFound(_) => "plugin_not_found",
            ApiError::PluginDisabled(_) => "plugin_disabled",
            ApiError::PluginDenied(_) => "plugin_denied",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::InvalidInput(_) => "invalid_input",
            ApiError::PluginTimeout(_) => "plugin_timeout",
            ApiError::PluginCrashed(_) => "plugin_crashed",
            ApiError::OutputTooLarge(_) => "plugin_output_too_large",
            ApiError::PluginFailed { .. } => "plugin_failed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NoModel(_) => "no_model",
            ApiError::Provider(_) => "provider_error",
            ApiError::OriginNotAllowed(_) => "origin_not_allowed",
            ApiError::RouteNotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Internal(_) => "internal_error",
            ApiError::Store(
                StoreError::Database(_) | StoreError::Sqlite(_) | StoreError::Closed,
            ) => "store_unavailable",
            ApiError::Store(_) => "store_error",
        }
    }
}

impl From<PluginError> for ApiError {
    fn from(error: PluginError) -> Self {
        let plugin = match &error {
            PluginError::NotFound { name, .. } => name.clone(),
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
            error => ApiError::Store(error),
        }
    }
}

impl From<ExecuteError> for ApiError {
    fn from(error: ExecuteError) -> Self {
        match error {
            ExecuteError::InvalidSession(error) | ExecuteError::Store(error) => error.into(),
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

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> Self {
        match error {
            ChatError::InvalidSession(_) | ChatError::BadRequest(_) => {
                ApiError::InvalidRequest(error.to_string())
            }
            ChatError::NoModel => ApiError::NoModel(error.to_string()),
            ChatError::Provider { .. } => {
                tracing::warn!(error = %error, "model providers failed");
                ApiError::Provider(error.to_string())
            }
            ChatError::Store(error) => error.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (error, execution_id) = match self {
            ApiError::Logged {
                error,
                execution_id,
            } => (*error, Some(execution_id)),
            error => (error, None),
        };
        match &error {
            ApiError::PluginFailed { plugin, cause } => {
                tracing::error!(plugin = %plugin, cause = %cause, "plugin failed");
            }
            ApiError::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            ApiError::Store(cause) => tracing::error!(cause = %cause, "store error"),
            _ => {}
        }
        let suggestion = match &error {
            ApiError::PluginNotFound(PluginError::NotFound { suggestion, .. }) => {
                suggestion.clone()
            }
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: error.code(),
                message: error.to_string(),
                suggestion,
                execution_id,
            },
        };
        (status, Json(body)).into_response()
    }
}
