//! `/api/executions`: plugin runs across sessions, newest first, filtered by plugin, status,
//! source, session and time, a page at a time. The store reads an index of executions, never
//! whole timelines.

use axum::Json;
use axum::extract::State;
use codex_store::{Cursor, ExecutionQuery};

use crate::dto::history::{ExecutionList, ExecutionsQuery};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, QueryParams};
use crate::routes::memory::page_limit;
use crate::state::AppState;

/// Plugin runs across sessions (successful or not), newest first; `next_before` continues.
#[utoipa::path(get, path = "/api/executions", operation_id = "list_executions", tag = "sessions",
    params(ExecutionsQuery),
    responses(
        (status = 200, body = ExecutionList),
        (status = 400, description = "A bad query parameter or cursor", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<ExecutionsQuery>,
) -> Result<Json<ExecutionList>, ApiError> {
    // A user key reads one of its sessions, or its own runs across sessions; admins read all.
    let asked = super::actor_filter(query.actor)?;
    let actor = if caller.is_admin() {
        asked
    } else {
        if let Some(session_id) = query.session_id.as_deref() {
            state.owners.check_read(&caller, session_id).await?;
        }
        match (asked, caller.actor()) {
            (Some(asked), Some(own)) if asked != own => {
                return Err(ApiError::Forbidden(
                    "a user key reads only its own runs: leave actor out".to_owned(),
                ));
            }
            (_, own) => own.map(str::to_owned),
        }
    };
    let mut store_query = ExecutionQuery::new(page_limit(query.limit)?)
        .with_before(query.before.map(Cursor::from))
        .with_actor(actor);
    store_query.plugin = non_empty("plugin", query.plugin)?;
    store_query.status = non_empty("status", query.status)?;
    store_query.source = query.source.map(Into::into);
    store_query.since = query.since;
    store_query.until = query.until;
    if let Some(session_id) = query.session_id {
        codex_store::validate_session_id(&session_id)?;
        store_query.session_id = Some(session_id);
    }
    let page = state.store.executions(&store_query).await?;
    Ok(Json(ExecutionList {
        executions: page.items.into_iter().map(Into::into).collect(),
        next_before: page.next_before.map(|cursor| cursor.to_string()),
    }))
}

/// A filter given empty would match nothing, which is never what was meant.
fn non_empty(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(value) if value.is_empty() => Err(ApiError::InvalidRequest(format!(
            "{name} is empty: leave it out to match any"
        ))),
        value => Ok(value),
    }
}
