//! `/chat` and `/chat/stream`: one chat turn (`/run` dispatch or the model's tool loop),
//! answered whole or streamed as server-sent events.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use codex_agent::chat::{ChatError, TurnEvent};
use futures::stream::{Stream, StreamExt};

use crate::dto::chat::{ChatRequest, ChatResponse, ErrorView, StreamEvent};
use crate::dto::memory::DEFAULT_SESSION;
use crate::dto::sse::ChatStreamFrame;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, JsonBody};
use crate::state::AppState;

/// One chat turn. `/run <plugin> <input>` (or `run ...`) calls the plugin and bypasses the
/// model; anything else goes to the configured model with the enabled plugins as tools.
/// Every step is stored in the session's audit timeline.
#[utoipa::path(post, path = "/chat", operation_id = "chat", tag = "chat",
    request_body = ChatRequest,
    responses(
        (status = 200, body = ChatResponse),
        (status = 400, description = "Malformed JSON or an invalid session id", body = ErrorBody),
        (status = 403, description = "`/run` of a plugin the key is not granted", body = ErrorBody),
        (status = 502, description = "Every model provider failed", body = ErrorBody),
    ))]
pub async fn chat(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(request): JsonBody<ChatRequest>,
) -> Result<Json<ChatResponse>, ApiError> {
    caller.check_command(&state.plugins, &request.message)?;
    state.model_limit.check(&request.message)?;
    let session_id = session_of(&request);
    // A bad session id is answered where it always was, by the turn or the executor.
    if codex_store::validate_session_id(&session_id).is_ok() {
        state.owners.check_write(&caller, &session_id).await?;
    }
    let reply = state
        .chat
        .acting_as(caller.actor())
        .approving(request.approval.map(Into::into))
        .turn_excluding(
            &session_id,
            &request.message,
            caller.not_granted(&state.plugins),
        )
        .await?;
    Ok(Json(ChatResponse::from(reply)))
}

/// The same turn as server-sent events: `turn` (`{"turn_id"}`, for
/// `POST /api/turns/{id}/cancel`) first, then `delta` (`{"text"}`), `tool_call`,
/// `progress`, `tool_result`, then `done` (the whole reply, as `POST /chat` answers it) or `error`
/// (`{"code", "message"}`). Each event's data is JSON. Closing the stream cancels the turn.
#[utoipa::path(post, path = "/chat/stream", operation_id = "chat_stream", tag = "chat",
    request_body = ChatRequest,
    responses(
        (status = 200, description = "A `text/event-stream` of the turn's events: each SSE event is named after its `event` field, and its data is that object", content_type = "text/event-stream", body = ChatStreamFrame),
        (status = 400, description = "Malformed JSON or an invalid session id", body = ErrorBody),
        (status = 403, description = "`/run` of a plugin the key is not granted", body = ErrorBody),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(request): JsonBody<ChatRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.check_command(&state.plugins, &request.message)?;
    state.model_limit.check(&request.message)?;
    let session_id = session_of(&request);
    // Refused before the stream starts, with its status, as a malformed body is.
    codex_store::validate_session_id(&session_id)?;
    state.owners.check_write(&caller, &session_id).await?;
    let events = state
        .chat
        .acting_as(caller.actor())
        .approving(request.approval.map(Into::into))
        .turn_stream_excluding(
            session_id,
            request.message,
            caller.not_granted(&state.plugins),
        );
    Ok(Sse::new(sse_events(events)).keep_alive(KeepAlive::default()))
}

fn session_of(request: &ChatRequest) -> String {
    request
        .session_id
        .clone()
        .unwrap_or_else(|| DEFAULT_SESSION.to_owned())
}

/// Each turn event as an SSE event named after it; the stream ends after `done` or `error`.
fn sse_events(
    events: impl Stream<Item = Result<TurnEvent, ChatError>> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream::stream! {
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => StreamEvent::from(event),
                Err(error) => {
                    let body = ApiError::from(error).body();
                    StreamEvent::Error(ErrorView {
                        code: body.error.code.to_owned(),
                        message: body.error.message,
                    })
                }
            };
            let last = matches!(event, StreamEvent::Done(_) | StreamEvent::Error(_));
            yield Ok(sse_event(&event));
            if last {
                break;
            }
        }
    }
}

fn sse_event(event: &StreamEvent) -> Event {
    match serde_json::to_string(event) {
        Ok(json) => Event::default().event(event.name()).data(json),
        // Serialising our own event cannot fail; say so on the wire rather than drop it.
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a turn event");
            Event::default().event("error").data(
                r#"{"event":"error","code":"internal_error","message":"cannot serialise an event"}"#,
            )
        }
    }
}
