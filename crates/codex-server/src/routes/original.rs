//! The original project's paths whose shapes differ from ours: `/plugins` lists names,
//! `/sessions` lists ids, and `/models` and `/status` answer what the original frontend
//! asks on every page. Richer shapes of the same data live under `/api/`.

use axum::Json;
use axum::extract::State;

use crate::dto::original::{ModelsResponse, PluginNames, SessionIds, StatusResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Authed;
use crate::state::AppState;

/// The names of every loaded plugin, as the original frontend sends them back as `plugin`.
/// `GET /api/plugins` has their metadata.
#[utoipa::path(get, path = "/plugins", operation_id = "list_plugin_names", tag = "original",
    responses((status = 200, body = PluginNames)))]
pub async fn plugin_names(State(state): State<AppState>) -> Json<PluginNames> {
    Json(PluginNames {
        plugins: state
            .plugins
            .list()
            .iter()
            .map(|entry| entry.name().to_owned())
            .collect(),
    })
}

/// The id of every session, most recently active first. `GET /api/sessions` has their
/// activity and message counts.
#[utoipa::path(get, path = "/sessions", operation_id = "list_session_ids", tag = "original",
    responses(
        (status = 200, body = SessionIds),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn session_ids(
    State(state): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<SessionIds>, ApiError> {
    let sessions = match caller.session_filter() {
        None => state.store.sessions().await?,
        // A user key lists its own sessions (a key owns far fewer than a page holds).
        Some(owner) => {
            let query =
                codex_store::SessionQuery::new(codex_store::MAX_PAGE_SIZE).with_owner(owner);
            state.store.session_page(&query).await?.items
        }
    };
    Ok(Json(SessionIds {
        sessions: sessions.into_iter().map(|s| s.id).collect(),
    }))
}

/// The configured models, and whether every provider that needs an API key has one.
#[utoipa::path(get, path = "/models", operation_id = "list_model_names", tag = "original",
    responses((status = 200, body = ModelsResponse)))]
pub async fn models(State(state): State<AppState>) -> Json<ModelsResponse> {
    let providers = &state.chat.config().providers;
    let api_key_configured = !providers.is_empty()
        && providers.iter().all(|p| match &p.api_key_env {
            Some(var) => std::env::var_os(var).is_some_and(|v| !v.is_empty()),
            None => true,
        });
    let models = state.chat.models();
    Json(ModelsResponse {
        default_model: models.first().cloned(),
        models,
        api_key_configured,
    })
}

/// Whether a model is configured, which ones, and which is tried first.
#[utoipa::path(get, path = "/status", operation_id = "status", tag = "original",
    responses((status = 200, body = StatusResponse)))]
pub async fn status(State(state): State<AppState>) -> Json<StatusResponse> {
    let available_models = state.chat.models();
    Json(StatusResponse {
        status: "ok",
        model_configured: !available_models.is_empty(),
        default_model: available_models.first().cloned(),
        available_models,
        plugins: state.plugins.list().len(),
    })
}
