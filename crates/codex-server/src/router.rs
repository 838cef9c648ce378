//! The one place that lists every route, and the layers around them.

use std::any::Any;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::correlation;
use crate::error::ApiError;
use crate::extract::Authed;
use crate::mcp;
use crate::openapi::ApiDoc;
use crate::routes::{
    analytics, approvals, chat, executions, history, keys, memory, openai, original, plugins,
    running, sessions, system,
};
use crate::state::AppState;
use crate::telemetry;
use crate::web;

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/plugins", get(plugins::list))
        .route("/api/plugins/execute", post(plugins::execute))
        .route("/api/plugins/{name}", get(plugins::get))
        .route("/api/tools", get(plugins::tools))
        .route("/api/executions", get(executions::list))
        .route(
            "/api/executions/{id}/cancel",
            post(running::cancel_execution),
        )
        .route("/api/turns/{id}/cancel", post(running::cancel_turn))
        .route("/api/running", get(running::list))
        .route("/api/approvals", get(approvals::list))
        .route("/api/approvals/{id}", post(approvals::answer))
        .route("/api/analytics", get(analytics::analytics))
        .route("/api/sessions", get(history::sessions))
        .route("/api/sessions/{id}/events", get(history::events))
        // The original project's paths, in its shapes.
        .route("/plugins", get(original::plugin_names))
        .route("/plugins/execute", post(plugins::execute))
        .route("/tools", get(plugins::tools))
        .route("/models", get(original::models))
        .route("/status", get(original::status))
        .route("/memory", get(memory::get).delete(memory::reset))
        .route("/memory/audit/{session_id}", get(memory::audit))
        .route("/sessions", get(original::session_ids))
        .route("/sessions/{id}", delete(sessions::purge))
        .route("/plugin-logs/{session_id}", get(sessions::plugin_logs))
        .route("/analytics", get(analytics::original))
        .route("/version", get(system::version))
        .route("/chat", post(chat::chat))
        .route("/chat/stream", post(chat::stream))
        .route("/v1/chat/completions", post(openai::completions))
        .route("/v1/models", get(openai::models))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        // MCP over streamable HTTP; browsers' requests must come from an allowed origin.
        .merge(
            Router::new()
                .route_service("/mcp", mcp::http_service(&state))
                .route_layer(middleware::from_fn_with_state(
                    state.clone(),
                    mcp::check_origin,
                )),
        );
    // Switches, reloads, keys and the process's metrics: admin keys only.
    let admin = Router::new()
        .route("/metrics", get(telemetry::metrics))
        .route("/api/plugins/reload", post(plugins::reload))
        .route("/api/plugins/{name}/enable", post(plugins::enable))
        .route("/api/plugins/{name}/disable", post(plugins::disable))
        .route("/api/plugins/{name}/policy", post(plugins::set_policy))
        .route("/api/keys", get(keys::list).post(keys::create))
        .route("/api/keys/{name}", delete(keys::revoke))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    // Every route but `/health` and the web UI's files knows its caller; with no key
    // configured nor stored that is an unnamed admin, as loopback use always was.
    let api = api
        .merge(admin)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));

    let max_body_bytes = state.config.max_body_bytes;
    let routes = Router::new()
        .route("/health", get(system::health))
        // The web UI's page and files need no key: the page asks for one.
        .merge(web::router())
        .merge(api)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response))
        // Inside the router, where the matched route (its metrics label) is known.
        .layer(middleware::from_fn(correlation::observe))
        .with_state(state);
    // The layers that need nothing of the route, wrapped once around the whole router:
    // `Router::layer` wraps (and, per request, clones) each route's stack.
    let layered = ServiceBuilder::new()
        // Outermost: every request gets an id first.
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .service(routes);
    Router::new().fallback_service(layered)
}

async fn route_not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = codex_plugin::panic_message(panic.as_ref());
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}

/// With API keys configured or stored, every route but `/health` needs one, as
/// `Authorization: Bearer <key>` or `X-API-Key: <key>`: 401 when it is missing, malformed,
/// unknown or revoked, 429 when the key's rate is used up. The caller rides along in the
/// request's extensions.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let caller = match state
        .keys
        .authenticate(presented_key(request.headers()))
        .await
    {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = caller.check_rate() {
        return error.into_response();
    }
    request.extensions_mut().insert(caller);
    // Tracebacks only for a server nobody needs a key for, and only if it says `debug`.
    let show_tracebacks = state.config.debug && state.keys.is_open();
    crate::error::SHOW_TRACEBACKS
        .scope(show_tracebacks, next.run(request))
        .await
}

/// 403 for a caller that is not an admin.
async fn require_admin(Authed(caller): Authed, request: Request, next: Next) -> Response {
    match caller.check_admin() {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(bearer) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim());
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok())
}
