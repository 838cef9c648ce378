//! `/health` and `/version`.

use axum::Json;
use axum::extract::State;

use crate::dto::{Health, StoreHealth, Version};
use crate::state::AppState;

/// Liveness and a summary of what is loaded.
#[utoipa::path(get, path = "/health", operation_id = "health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let loading = state.plugins.loading();
    Json(Health {
        status: "ok",
        plugins_state: if loading.is_some() {
            "loading"
        } else {
            "ready"
        },
        plugins_loading: loading.map(|l| crate::dto::LoadingView {
            loaded: l.loaded,
            total: l.total,
        }),
        server_time: chrono::Utc::now(),
        plugins: state.plugins.list().len(),
        load_errors: state.plugins.load_errors().len(),
        uptime_s: state.started.elapsed().as_secs(),
        model: state.chat.model_status().into(),
        store: StoreHealth {
            backend: state.store.backend(),
            stats: state.store.stats(),
        },
    })
}

/// The server's name and version.
#[utoipa::path(get, path = "/version", operation_id = "version", tag = "system", responses((status = 200, body = Version)))]
pub async fn version() -> Json<Version> {
    Json(Version {
        name: "codexcontinue",
        version: env!("CARGO_PKG_VERSION"),
    })
}
