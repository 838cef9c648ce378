//! `/api/running` and the cancel routes: what runs on this server now, and stopping it.
//!
//! A cancel reaches the work itself (a Python worker is killed and replaced, a Wasm call
//! interrupted, an MCP server sent `notifications/cancelled`, a model request dropped); the
//! run then answers `cancelled` (499) on its own response or stream, and its audit event
//! says who cancelled it.
//!
//! A run on another server on the same database is reached through it (see
//! [`crate::control`]). A user key sees and cancels only the runs in sessions it owns; another key's run answers
//! as one that does not run, so that its id says nothing.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use codex_agent::{CancelError, RunInfo, RunKind};
use uuid::Uuid;

use crate::access::Caller;
use crate::dto::running::{CancelResponse, RunList, RunView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Authed;
use crate::state::AppState;

/// Who a cancel request over HTTP is recorded as, in the cancelled run's audit event, when
/// no key was needed; a key's name otherwise.
const CANCELLED_BY: &str = "api";

/// The executions and chat turns running on this server, oldest first (for a user key,
/// those in its own sessions).
#[utoipa::path(get, path = "/api/running", operation_id = "list_running", tag = "running",
    responses(
        (status = 200, body = RunList),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 429, description = "The key's rate is used up (`Retry-After` says when to retry)", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<RunList>, ApiError> {
    let mut runs = Vec::new();
    for run in state.executor.running().list() {
        if caller.is_admin()
            || state
                .owners
                .check_read(&caller, &run.session_id)
                .await
                .is_ok()
        {
            runs.push(RunView::from(run));
        }
    }
    Ok(Json(RunList { runs }))
}

/// Cancels a running plugin execution (its `run_id`, from a `tool_call` stream event, an
/// execute request, or `GET /api/running`). The execution answers `cancelled`.
#[utoipa::path(post, path = "/api/executions/{id}/cancel", operation_id = "cancel_execution", tag = "running",
    params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The execution's run id (a UUID)")),
    responses(
        (status = 202, description = "The cancel reached the execution", body = CancelResponse),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 404, description = "No execution runs under that id (`not_running`), or, for a user key, none in its own sessions", body = ErrorBody),
        (status = 429, description = "The key's rate is used up (`Retry-After` says when to retry)", body = ErrorBody),
    ))]
pub async fn cancel_execution(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CancelResponse>), ApiError> {
    cancel(&state, &caller, RunKind::Execution, &id).await
}

/// Cancels a running chat turn (its `turn_id`, the first event of `/chat/stream`): the
/// model request is dropped, running tool calls are cancelled, and the turn ends with an
/// `error` event coded `cancelled`.
#[utoipa::path(post, path = "/api/turns/{id}/cancel", operation_id = "cancel_turn", tag = "running",
    params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The turn id (a UUID)")),
    responses(
        (status = 202, description = "The cancel reached the turn", body = CancelResponse),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 404, description = "No turn runs under that id (`not_running`), or, for a user key, none in its own sessions", body = ErrorBody),
        (status = 429, description = "The key's rate is used up (`Retry-After` says when to retry)", body = ErrorBody),
    ))]
pub async fn cancel_turn(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CancelResponse>), ApiError> {
    cancel(&state, &caller, RunKind::Turn, &id).await
}

async fn cancel(
    state: &AppState,
    caller: &Caller,
    kind: RunKind,
    id: &str,
) -> Result<(StatusCode, Json<CancelResponse>), ApiError> {
    let id = Uuid::parse_str(id)
        .map_err(|_| ApiError::InvalidRequest(format!("'{id}' is not a run id (a UUID)")))?;
    let by = caller.actor().unwrap_or(CANCELLED_BY);
    let run = match cancel_here(state, caller, kind, id, by).await? {
        Some(run) => run,
        // Not on this server: the one on the database that runs it cancels it.
        None => {
            let owner = (!caller.is_admin()).then(|| caller.actor()).flatten();
            state
                .control
                .cancel_elsewhere(kind, id, by, owner)
                .await?
                .ok_or(CancelError::NotRunning { kind, id })?
        }
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(CancelResponse {
            cancelled: true,
            run: RunView::from(run),
        }),
    ))
}

/// Cancels the run if it runs on this server (for a user key, in a session it owns).
async fn cancel_here(
    state: &AppState,
    caller: &Caller,
    kind: RunKind,
    id: Uuid,
    by: &str,
) -> Result<Option<RunInfo>, ApiError> {
    let running = state.executor.running();
    let Some(run) = running
        .list()
        .into_iter()
        .find(|run| run.id == id && run.kind == kind)
    else {
        return Ok(None);
    };
    // A user key's cancel reaches only a run in a session it owns; another key's run
    // answers exactly as one that does not run.
    if state
        .owners
        .check_read(caller, &run.session_id)
        .await
        .is_err()
    {
        return Ok(None);
    }
    Ok(running.cancel(kind, id, by).ok())
}
