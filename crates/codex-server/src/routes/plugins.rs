//! `/api/plugins`, `/api/tools` and their original-project aliases.

use axum::Json;
use axum::extract::{Path, State};
use codex_host::ExecutionRequest;
use codex_store::ExecutionSource;
use tokio_util::sync::CancellationToken;

use crate::dto::{
    ExecuteRequest, ExecuteResponse, LoadErrorView, PluginList, PluginView, ReloadResponse,
    ToolList, ToolView,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;

/// Every loaded plugin with its metadata, and the files that failed to load (`GET /plugins`
/// lists only the names, as the original project did).
#[utoipa::path(get, path = "/api/plugins", operation_id = "list_plugins", tag = "plugins",
    responses((status = 200, body = PluginList)))]
pub async fn list(State(state): State<AppState>) -> Json<PluginList> {
    Json(plugin_list(&state))
}

fn plugin_list(state: &AppState) -> PluginList {
    PluginList {
        plugins: state
            .plugins
            .list()
            .iter()
            .map(|e| PluginView::from(&**e))
            .collect(),
        load_errors: state
            .plugins
            .load_errors()
            .into_iter()
            .map(LoadErrorView::from)
            .collect(),
    }
}

/// One plugin by name or alias.
#[utoipa::path(get, path = "/api/plugins/{name}", operation_id = "get_plugin", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name or alias")),
    responses((status = 200, body = PluginView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    let entry = state.plugins.get(&name)?;
    Ok(Json(PluginView::from(&*entry)))
}

/// Runs a plugin and logs the run (failed runs too) in the session's audit timeline; the
/// answer comes once the log entry is committed, and `execution_id` is its id.
#[utoipa::path(post, path = "/api/plugins/execute", operation_id = "execute_plugin", tag = "plugins",
    request_body = ExecuteRequest,
    responses(
        (status = 200, body = ExecuteResponse),
        (status = 400, description = "Malformed JSON or a missing field", body = ErrorBody),
        (status = 403, description = "The plugin is disabled", body = ErrorBody),
        (status = 404, description = "No such plugin", body = ErrorBody),
        (status = 409, description = "The plugin is unavailable here (`plugin_unavailable`: the message says what enables it)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 422, description = "The plugin rejected its input", body = ErrorBody),
        (status = 500, description = "The plugin failed", body = ErrorBody),
        (status = 502, description = "The plugin crashed or its output was too large", body = ErrorBody),
        (status = 503, description = "The run could not be logged and its result is withheld", body = ErrorBody),
        (status = 504, description = "The plugin timed out", body = ErrorBody),
    ))]
pub async fn execute(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ExecuteRequest>,
) -> Result<Json<ExecuteResponse>, ApiError> {
    let session_id = request.session_id.unwrap_or_else(|| "default".to_owned());
    // Cancels the plugin call when the client goes away and this future is dropped.
    let cancel = CancellationToken::new();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let mut call = ExecutionRequest::new(request.plugin.clone(), request.data)
        .with_session(session_id.clone());
    call.cancel = cancel;
    let logged = state.executor.execute(call, ExecutionSource::Api).await?;
    let execution = logged.execution;
    Ok(Json(ExecuteResponse {
        plugin: execution.plugin,
        result: execution.result,
        duration_ms: execution.duration.as_secs_f64() * 1000.0,
        execution_id: logged.execution_id.to_string(),
        session_id,
    }))
}

/// Switches a plugin on.
#[utoipa::path(post, path = "/api/plugins/{name}/enable", operation_id = "enable_plugin", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name or alias")),
    responses((status = 200, body = PluginView), (status = 404, body = ErrorBody)))]
pub async fn enable(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    let entry = state.plugins.set_enabled(&name, true)?;
    Ok(Json(PluginView::from(&*entry)))
}

/// Switches a plugin off; calls get `plugin_disabled` until it is enabled again.
#[utoipa::path(post, path = "/api/plugins/{name}/disable", operation_id = "disable_plugin", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name or alias")),
    responses((status = 200, body = PluginView), (status = 404, body = ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    let entry = state.plugins.set_enabled(&name, false)?;
    Ok(Json(PluginView::from(&*entry)))
}

/// Rescans the plugins folder now.
#[utoipa::path(post, path = "/api/plugins/reload", operation_id = "reload_plugins", tag = "plugins",
    responses((status = 200, body = ReloadResponse)))]
pub async fn reload(State(state): State<AppState>) -> Json<ReloadResponse> {
    state.plugins.reload().await;
    let list = plugin_list(&state);
    Json(ReloadResponse {
        plugins: list.plugins.len(),
        load_errors: list.load_errors,
    })
}

/// The enabled (and available) plugins as OpenAI-style function tools (the same toolbox a
/// chat turn offers), each with its name and description also at the top level (alias
/// `GET /tools`).
#[utoipa::path(get, path = "/api/tools", operation_id = "list_tools", tag = "plugins",
    responses((status = 200, body = ToolList)))]
pub async fn tools(State(state): State<AppState>) -> Json<ToolList> {
    let toolbox = state.plugins.toolbox::<&str>(&[]);
    let tools = toolbox
        .iter()
        .zip(toolbox.definitions())
        .map(|((_, entry), definition)| ToolView {
            name: definition.function.name.clone(),
            description: definition.function.description.clone(),
            plugin: entry.name().to_owned(),
            kind: definition.kind,
            function: serde_json::to_value(&definition.function).unwrap_or_default(),
        })
        .collect();
    Json(ToolList { tools })
}
