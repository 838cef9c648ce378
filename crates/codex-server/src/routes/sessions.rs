//! `/sessions` and `/plugin-logs/{session_id}`: the sessions the store knows, their purge, and
//! the plugin runs of one.

use axum::Json;
use axum::extract::{Path, State};

use crate::dto::memory::{PageQuery, PluginLogList, PurgeResponse, SessionList};
use crate::error::{ApiError, ErrorBody};
use crate::extract::QueryParams;
use crate::routes::memory::page_limit;
use crate::state::AppState;

/// Every session: id, creation, last activity and message count, most recently active first.
#[utoipa::path(get, path = "/api/sessions", operation_id = "list_sessions", tag = "sessions",
    responses(
        (status = 200, body = SessionList),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Json<SessionList>, ApiError> {
    let sessions = state.store.sessions().await?;
    Ok(Json(SessionList {
        sessions: sessions.into_iter().map(Into::into).collect(),
    }))
}

/// Removes a session and every event of it for good, audit included. Purging an unknown
/// session removes nothing and is not an error.
#[utoipa::path(delete, path = "/sessions/{id}", operation_id = "purge_session", tag = "sessions",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 200, body = PurgeResponse),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn purge(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Json<PurgeResponse>, ApiError> {
    let deleted_events = state.store.delete_session(&session_id).await?;
    tracing::info!(session_id = %session_id, deleted_events, "session purged");
    Ok(Json(PurgeResponse {
        session_id,
        deleted_events,
    }))
}

/// The plugin runs of a session (successful or not) in order, a page at a time.
#[utoipa::path(get, path = "/plugin-logs/{session_id}", operation_id = "get_plugin_logs", tag = "sessions",
    params(("session_id" = String, Path, description = "The session"), PageQuery),
    responses(
        (status = 200, body = PluginLogList),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn plugin_logs(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    QueryParams(page): QueryParams<PageQuery>,
) -> Result<Json<PluginLogList>, ApiError> {
    let limit = page_limit(page.limit)?;
    let logs = state
        .store
        .plugin_logs(&session_id, page.after, limit)
        .await?;
    Ok(Json(PluginLogList {
        session_id,
        logs: logs.items.into_iter().map(Into::into).collect(),
        next_after: logs.next_after,
    }))
}
