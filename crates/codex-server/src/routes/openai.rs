//! `/v1/chat/completions` and `/v1/models`: the OpenAI-compatible surface, so any OpenAI
//! client or IDE extension can use CodexContinue with its plugins as server-side tools.
//!
//! Bodies are OpenAI's wire format exactly, errors included (`{"error": {"message", "type",
//! "param", "code"}}`), which is why these routes answer [`OpenAiError`] rather than
//! [`ApiError`](crate::error::ApiError).

use std::convert::Infallible;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use codex_agent::chat::ChatError;
use codex_agent::openai::{ChatCompletionChunk, ChatCompletionRequest};
use futures::stream::{BoxStream, Stream, StreamExt};
use serde_json::Value;

use crate::dto::chat::{ModelList, ModelView, OpenAiErrorBody, OpenAiErrorDetail};
use crate::state::AppState;

/// The session a completion is logged under when the request names none.
pub const DEFAULT_OPENAI_SESSION: &str = "openai";

/// A chat completion, as OpenAI's `POST /v1/chat/completions` answers it. The client's
/// messages are used as they are (its system prompt included); the enabled plugins are added
/// as tools and run here. Tools the client sends itself are not run: when the model calls
/// one, the answer carries the `tool_calls` with `finish_reason` `tool_calls`.
/// With `"stream": true` the answer is server-sent `data: <chunk>` lines ending with
/// `data: [DONE]`. The session is `X-Session-Id`, else the request's `user`, else `openai`.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai",
    request_body(content = Object, description = "OpenAI's chat-completions request"),
    params(("X-Session-Id" = Option<String>, Header, description = "Session the turn is logged under")),
    responses(
        (status = 200, description = "A `chat.completion` object, or with `stream` a `text/event-stream` of `chat.completion.chunk` objects", body = Object),
        (status = 400, description = "Malformed JSON or an invalid request", body = OpenAiErrorBody),
        (status = 502, description = "Every model provider failed", body = OpenAiErrorBody),
        (status = 503, description = "No model is configured", body = OpenAiErrorBody),
    ))]
pub async fn completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let body = body.map_err(|rejection| body_error(&rejection, state.config.max_body_bytes))?;
    let request: ChatCompletionRequest = serde_json::from_slice(&body).map_err(|e| {
        OpenAiError::invalid_request(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    })?;
    let session_id = session_of(&headers, &request);
    if request.stream == Some(true) {
        let include_usage = request
            .stream_options
            .as_ref()
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut chunks = state.chat.complete_stream(session_id, request);
        // An error before the first chunk is answered with its status, as OpenAI does;
        // after it, the status is already sent and the error goes into the stream.
        let first = match chunks.next().await {
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(chunk)) => Some(chunk),
            None => None,
        };
        let events = sse_chunks(first, chunks, include_usage);
        Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response())
    } else {
        let response = state.chat.complete(&session_id, request).await?;
        Ok(Json(response).into_response())
    }
}

/// The configured models, as OpenAI's `GET /v1/models` lists them.
#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses((status = 200, body = ModelList)))]
pub async fn models(State(state): State<AppState>) -> Json<ModelList> {
    let started = chrono::Utc::now().timestamp() - state.started.elapsed().as_secs() as i64;
    Json(ModelList {
        object: "list",
        data: state
            .chat
            .models()
            .into_iter()
            .map(|id| ModelView {
                id,
                object: "model",
                created: started,
                owned_by: "codexcontinue",
            })
            .collect(),
    })
}

/// `X-Session-Id`, else the request's `user`, else [`DEFAULT_OPENAI_SESSION`].
fn session_of(headers: &HeaderMap, request: &ChatCompletionRequest) -> String {
    headers
        .get("x-session-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .or_else(|| {
            request
                .extra
                .get("user")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        })
        .unwrap_or(DEFAULT_OPENAI_SESSION)
        .to_owned()
}

/// Each chunk as a bare `data:` line, then `data: [DONE]`; an error mid-stream is one
/// `data: {"error": ...}` line and ends the stream.
fn sse_chunks(
    first: Option<ChatCompletionChunk>,
    mut rest: BoxStream<'static, Result<ChatCompletionChunk, ChatError>>,
    include_usage: bool,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream::stream! {
        if let Some(chunk) = first.and_then(|c| shape(c, include_usage)) {
            yield Ok(data(&chunk));
        }
        while let Some(item) = rest.next().await {
            match item {
                Ok(chunk) => {
                    if let Some(chunk) = shape(chunk, include_usage) {
                        yield Ok(data(&chunk));
                    }
                }
                Err(e) => {
                    let error = OpenAiError::from(e);
                    yield Ok(data(&error.body()));
                    return;
                }
            }
        }
        yield Ok(Event::default().data("[DONE]"));
    }
}

/// Usage only when the client asked for it (`stream_options.include_usage`), as OpenAI does;
/// a usage-only chunk is dropped otherwise.
fn shape(mut chunk: ChatCompletionChunk, include_usage: bool) -> Option<ChatCompletionChunk> {
    if include_usage {
        return Some(chunk);
    }
    if chunk.choices.is_empty() && chunk.usage.is_some() {
        return None;
    }
    chunk.usage = None;
    Some(chunk)
}

fn data(value: &impl serde::Serialize) -> Event {
    match serde_json::to_string(value) {
        Ok(json) => Event::default().data(json),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a completion chunk");
            Event::default().data(
                r#"{"error":{"message":"internal error","type":"server_error","param":null,"code":"internal_error"}}"#,
            )
        }
    }
}

fn body_error(rejection: &BytesRejection, limit: usize) -> OpenAiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        OpenAiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            kind: "invalid_request_error",
            code: "payload_too_large",
            message: format!("request body is larger than the limit of {limit} bytes"),
        }
    } else {
        OpenAiError::invalid_request(format!("cannot read the request body: {rejection}"))
    }
}

/// A `/v1` failure in OpenAI's error shape, with the status OpenAI would use.
#[derive(Debug)]
pub struct OpenAiError {
    status: StatusCode,
    /// OpenAI's `type`.
    kind: &'static str,
    code: &'static str,
    message: String,
}

impl OpenAiError {
    /// 400 `invalid_request_error`.
    fn invalid_request(message: String) -> Self {
        OpenAiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: "invalid_request",
            message,
        }
    }

    fn body(&self) -> OpenAiErrorBody {
        OpenAiErrorBody {
            error: OpenAiErrorDetail {
                message: self.message.clone(),
                kind: self.kind,
                param: None,
                code: self.code,
            },
        }
    }
}

impl From<ChatError> for OpenAiError {
    fn from(error: ChatError) -> Self {
        let code = error.code();
        let (status, kind) = match &error {
            ChatError::InvalidSession(_) | ChatError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, "invalid_request_error")
            }
            ChatError::NoModel => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
            ChatError::Provider { .. } => (StatusCode::BAD_GATEWAY, "server_error"),
            ChatError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        };
        let message = if let ChatError::Store(_) = &error {
            // The store's cause is logged, not shown.
            tracing::error!(cause = %error, "store error in a completion");
            "the event store failed".to_owned()
        } else {
            error.to_string()
        };
        OpenAiError {
            status,
            kind,
            code,
            message,
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::BAD_GATEWAY {
            tracing::warn!(error = %self.message, "model providers failed");
        }
        (self.status, Json(self.body())).into_response()
    }
}
