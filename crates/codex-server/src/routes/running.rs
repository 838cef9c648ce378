//! `/api/running` and the cancel routes: what runs on this server now, and stopping it.
//!
//! A cancel reaches the work itself (a Python worker is killed and replaced, a Wasm call
//! interrupted, an MCP server sent `notifications/cancelled`, a model request dropped); the
//! run then answers `cancelled` (499) on its own response or stream, and its audit event
//! says who cancelled it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use codex_agent::RunKind;
use uuid::Uuid;

use crate::dto::running::{CancelResponse, RunList, RunView};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Who a cancel request over HTTP is recorded as, in the cancelled run's audit event.
const CANCELLED_BY: &str = "api";

/// The executions and chat turns running on this server, oldest first.
#[utoipa::path(get, path = "/api/running", operation_id = "list_running", tag = "running",
    responses((status = 200, body = RunList)))]
pub async fn list(State(state): State<AppState>) -> Json<RunList> {
    Json(RunList {
        runs: state
            .executor
            .running()
            .list()
            .into_iter()
            .map(RunView::from)
            .collect(),
    })
}

/// Cancels a running plugin execution (its `run_id`, from a `tool_call` stream event, an
/// execute request, or `GET /api/running`). The execution answers `cancelled`.
#[utoipa::path(post, path = "/api/executions/{id}/cancel", operation_id = "cancel_execution", tag = "running",
    params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The execution's run id (a UUID)")),
    responses(
        (status = 202, description = "The cancel reached the execution", body = CancelResponse),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No execution runs under that id (`not_running`)", body = ErrorBody),
    ))]
pub async fn cancel_execution(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CancelResponse>), ApiError> {
    cancel(&state, RunKind::Execution, &id)
}

/// Cancels a running chat turn (its `turn_id`, the first event of `/chat/stream`): the
/// model request is dropped, running tool calls are cancelled, and the turn ends with an
/// `error` event coded `cancelled`.
#[utoipa::path(post, path = "/api/turns/{id}/cancel", operation_id = "cancel_turn", tag = "running",
    params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The turn id (a UUID)")),
    responses(
        (status = 202, description = "The cancel reached the turn", body = CancelResponse),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No turn runs under that id (`not_running`)", body = ErrorBody),
    ))]
pub async fn cancel_turn(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CancelResponse>), ApiError> {
    cancel(&state, RunKind::Turn, &id)
}

fn cancel(
    state: &AppState,
    kind: RunKind,
    id: &str,
) -> Result<(StatusCode, Json<CancelResponse>), ApiError> {
    let id = Uuid::parse_str(id)
        .map_err(|_| ApiError::InvalidRequest(format!("'{id}' is not a run id (a UUID)")))?;
    let run = state.executor.running().cancel(kind, id, CANCELLED_BY)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CancelResponse {
            cancelled: true,
            run: RunView::from(run),
        }),
    ))
}
