//! `/sessions` and `/plugin-logs/{session_id}`: the sessions the store knows, their purge, and
//! the plugin runs of one.

use axum::Json;
use axum::extract::{Path, State};
use codex_store::{Cursor, ExecutionQuery};

use crate::dto::memory::{LogPageQuery, PluginLogList, PurgeResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, QueryParams};
use crate::routes::memory::page_limit;
use crate::state::AppState;

/// Removes a session and every event of it for good, audit included. Purging an unknown
/// session removes nothing and is not an error.
#[utoipa::path(delete, path = "/sessions/{id}", operation_id = "purge_session", tag = "sessions",
    params(("id" = String, Path, description = "The session", min_length = 1, max_length = 256)),
    responses(
        (status = 200, body = PurgeResponse),
        (status = 400, description = "An empty or oversized session id", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn purge(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(session_id): Path<String>,
) -> Result<Json<PurgeResponse>, ApiError> {
    codex_store::validate_session_id(&session_id)?;
    state.owners.check_read(&caller, &session_id).await?;
    let deleted_events = state.store.delete_session(&session_id).await?;
    state.owners.purged(&session_id).await?;
    // A session made later under the same id starts without its answers "for the session".
    state.chat.approvals().forget_session(&session_id);
    tracing::info!(session_id = %session_id, deleted_events, "session purged");
    Ok(Json(PurgeResponse {
        session_id,
        deleted_events,
    }))
}

/// The plugin runs of a session (successful or not), newest first as the original project
/// answered them, a page at a time (`next_before` continues). `/api/executions` has the
/// same runs across sessions, with filters.
#[utoipa::path(get, path = "/plugin-logs/{session_id}", operation_id = "get_plugin_logs", tag = "sessions",
    params(("session_id" = String, Path, description = "The session", min_length = 1, max_length = 256), LogPageQuery),
    responses(
        (status = 200, body = PluginLogList),
        (status = 400, description = "A bad query parameter or cursor", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn plugin_logs(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(session_id): Path<String>,
    QueryParams(page): QueryParams<LogPageQuery>,
) -> Result<Json<PluginLogList>, ApiError> {
    codex_store::validate_session_id(&session_id)?;
    state.owners.check_read(&caller, &session_id).await?;
    let query = ExecutionQuery::new(page_limit(page.limit)?)
        .with_session(session_id.clone())
        .with_actor(super::actor_filter(page.actor)?)
        .with_before(page.before.map(Cursor::from));
    let logs = state.store.executions(&query).await?;
    Ok(Json(PluginLogList {
        session_id,
        logs: logs.items.into_iter().map(Into::into).collect(),
        next_before: logs.next_before.map(|cursor| cursor.to_string()),
    }))
}
