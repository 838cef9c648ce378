//! `/api/sessions` and `/api/sessions/{id}/events`: sessions as the web UI browses them
//! (searched, a page at a time) and a session's timeline a page at a time, by kind.

use axum::Json;
use axum::extract::{Path, State};
use codex_store::{Cursor, EventKind, SessionQuery};

use crate::dto::history::{EventPage, EventsQuery, SessionPage, SessionsQuery};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, QueryParams};
use crate::routes::memory::page_limit;
use crate::state::AppState;

/// Sessions with their title (the first user message), most recently active first,
/// optionally only those whose id or title contains `q`; `next_before` continues.
#[utoipa::path(get, path = "/api/sessions", operation_id = "list_sessions", tag = "sessions",
    params(SessionsQuery),
    responses(
        (status = 200, body = SessionPage),
        (status = 400, description = "A bad query parameter or cursor", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn sessions(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<SessionsQuery>,
) -> Result<Json<SessionPage>, ApiError> {
    let mut store_query =
        SessionQuery::new(page_limit(query.limit)?).with_before(query.before.map(Cursor::from));
    store_query.search = query.q.filter(|q| !q.is_empty());
    store_query.owner = caller.session_filter();
    let page = state.store.session_page(&store_query).await?;
    Ok(Json(SessionPage {
        sessions: page.items.into_iter().map(Into::into).collect(),
        next_before: page.next_before.map(|cursor| cursor.to_string()),
    }))
}

/// A session's events in order, a page at a time, optionally only some kinds
/// (`kinds=message,plugin_execution`). An unknown session has none.
#[utoipa::path(get, path = "/api/sessions/{id}/events", operation_id = "list_session_events", tag = "sessions",
    params(("id" = String, Path, description = "The session", min_length = 1, max_length = 256), EventsQuery),
    responses(
        (status = 200, body = EventPage),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(session_id): Path<String>,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
    codex_store::validate_session_id(&session_id)?;
    state.owners.check_read(&caller, &session_id).await?;
    let limit = page_limit(query.limit)?;
    let page = match query.kinds.as_deref().map(parse_kinds).transpose()? {
        Some(kinds) => {
            state
                .store
                .timeline_of(&session_id, &kinds, query.after, limit)
                .await?
        }
        None => {
            state
                .store
                .timeline(&session_id, query.after, limit)
                .await?
        }
    };
    Ok(Json(EventPage {
        session_id,
        events: page.items.into_iter().map(Into::into).collect(),
        next_after: page.next_after,
    }))
}

/// `message,plugin_execution` as kinds; an unknown or missing name is refused.
fn parse_kinds(list: &str) -> Result<Vec<EventKind>, ApiError> {
    list.split(',')
        .map(|name| {
            EventKind::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                ApiError::InvalidRequest(format!(
                    "kinds: `{name}` is not an event kind (one of {})",
                    known.join(", ")
                ))
            })
        })
        .collect()
}
