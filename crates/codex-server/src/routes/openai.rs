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
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use codex_agent::chat::ChatError;
use codex_agent::openai::{ChatCompletionChunk, ChatCompletionRequest};
use futures::stream::{BoxStream, Stream, StreamExt};
use serde_json::Value;

use crate::dto::chat::{ModelList, ModelView, OpenAiErrorBody, OpenAiErrorDetail};
use crate::dto::openai::CompletionRequestDoc;
use crate::dto::sse::CompletionStreamFrame;
use crate::error::ApiError;
use crate::extract::{Authed, body_error};
use crate::state::AppState;

/// The session a completion is logged under when the request names none.
pub const DEFAULT_OPENAI_SESSION: &str = "openai";

/// A chat completion, as OpenAI's `POST /v1/chat/completions` answers it. The client's
/// messages are used as they are (its system prompt included); the enabled plugins are added
/// as tools and run here. Tools the client sends itself are not run: when the model calls
/// one, the answer carries the `tool_calls` with `finish_reason` `tool_calls`.
/// With `"stream": true` the answer is server-sent `data: <chunk>` lines ending with
/// `data: [DONE]`. The session is `X-Session-Id`, else the request's `user`, else `openai`.
#[utoipa::path(post, path = "/v1/chat/completions", operation_id = "create_chat_completion", tag = "openai",
    request_body(content = CompletionRequestDoc, description = "OpenAI's chat-completions request; other fields pass on to the model"),
    params(("X-Session-Id" = Option<String>, Header, description = "Session the turn is logged under", max_length = 256)),
    responses(
        (status = 200, description = "A `chat.completion` object, or with `stream` a `text/event-stream` of `chat.completion.chunk` objects",
            content((Object = "application/json"), (CompletionStreamFrame = "text/event-stream"))),
        (status = 400, description = "Malformed JSON or an invalid request", body = OpenAiErrorBody),
        (status = 403, description = "`/run` of a plugin the key is not granted", body = OpenAiErrorBody),
        (status = 502, description = "Every model provider failed", body = OpenAiErrorBody),
        (status = 409, description = "No model is configured (the server's state, not a failure): the message says how to configure one", body = OpenAiErrorBody),
    ))]
pub async fn completions(
    State(state): State<AppState>,
    Authed(caller): Authed,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let body = body.map_err(|rejection| body_error(rejection, state.config.max_body_bytes))?;
    let request: ChatCompletionRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidRequest(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    })?;
    // `user` names the session, so it must be text, as OpenAI requires.
    if request
        .extra
        .get("user")
        .is_some_and(|user| !user.is_string() && !user.is_null())
    {
        return Err(ApiError::InvalidRequest("`user` must be a string".to_owned()).into());
    }
    let last = request
        .messages
        .last()
        .filter(|m| m.role == "user")
        .map(|m| m.text_content())
        .unwrap_or_default();
    caller.check_command(&state.plugins, &last)?;
    state.model_limit.check(&last)?;
    let exclude = caller.not_granted(&state.plugins);
    let session_id = session_of(&headers, &request);
    // A bad session id is answered where it always was, by the turn or the executor.
    if codex_store::validate_session_id(&session_id).is_ok() {
        state.owners.check_write(&caller, &session_id).await?;
    }
    if request.stream == Some(true) {
        let include_usage = request
            .stream_options
            .as_ref()
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut chunks = state
            .chat
            .acting_as(caller.actor())
            .complete_stream_excluding(session_id, request, exclude);
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
        let response = state
            .chat
            .acting_as(caller.actor())
            .complete_excluding(&session_id, request, exclude)
            .await?;
        Ok(Json(response).into_response())
    }
}

/// The configured models, as OpenAI's `GET /v1/models` lists them.
#[utoipa::path(get, path = "/v1/models", operation_id = "list_models", tag = "openai",
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

/// A `/v1` failure: the one [`ApiError`] mapping (status and code), rendered in OpenAI's
/// error shape so OpenAI clients can read it.
#[derive(Debug)]
pub struct OpenAiError(ApiError);

impl OpenAiError {
    fn body(&self) -> OpenAiErrorBody {
        let body = self.0.body();
        // OpenAI's `type`: the client's fault or the server's.
        let kind = if self.0.status().is_client_error() {
            "invalid_request_error"
        } else {
            "server_error"
        };
        OpenAiErrorBody {
            error: OpenAiErrorDetail {
                message: body.error.message,
                kind,
                param: None,
                code: body.error.code,
            },
        }
    }
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        OpenAiError(error)
    }
}

impl From<ChatError> for OpenAiError {
    fn from(error: ChatError) -> Self {
        OpenAiError(error.into())
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        (self.0.status(), Json(self.body())).into_response()
    }
}
