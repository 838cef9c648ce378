//! `/api/plugins`, `/api/tools` and their original-project aliases.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use codex_agent::LoggedExecution;
use codex_host::ExecutionRequest;
use codex_plugin::Progress;
use codex_store::ExecutionSource;
use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::dto::{
    ExecuteRequest, ExecuteResponse, ExecuteStreamEvent, LoadErrorView, PluginList, PluginView,
    PolicyRequest, ReloadResponse, ToolList, ToolView,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, JsonBody};
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
/// With `Accept: text/event-stream` the answer is server-sent events instead: `started`
/// (`{"run_id"}`), `progress` (`{"fraction", "message"}`) as the plugin reports it, then
/// `result` (the unstreamed answer) or `error` (`{"code", "message", "execution_id"}`).
/// Closing the stream cancels the call.
#[utoipa::path(post, path = "/api/plugins/execute", operation_id = "execute_plugin", tag = "plugins",
    request_body = ExecuteRequest,
    responses(
        (status = 200, description = "The result; with `Accept: text/event-stream`, a stream of `ExecuteStreamEvent`s, each SSE event named after its `event` field", content_type = "application/json", body = ExecuteResponse),
        (status = 400, description = "Malformed JSON or a missing field", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "The plugin is disabled, or the key is not granted it", body = ErrorBody),
        (status = 429, description = "The key's rate is used up (`Retry-After` says when to retry)", body = ErrorBody),
        (status = 404, description = "No such plugin", body = ErrorBody),
        (status = 409, description = "Another execution runs under the `run_id` asked for (`run_id_in_use`), or the plugin is unavailable here (`plugin_unavailable`: the message says what enables it)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 422, description = "The plugin rejected its input", body = ErrorBody),
        (status = 500, description = "The plugin failed", body = ErrorBody),
        (status = 502, description = "The plugin crashed or its output was too large", body = ErrorBody),
        (status = 503, description = "The run could not be logged and its result is withheld", body = ErrorBody),
        (status = 504, description = "The plugin timed out", body = ErrorBody),
        (status = 499, description = "The call was cancelled (`cancelled`): `POST /api/executions/{run_id}/cancel`, or the client went away", body = ErrorBody),
    ))]
pub async fn execute(
    State(state): State<AppState>,
    Authed(caller): Authed,
    headers: HeaderMap,
    JsonBody(request): JsonBody<ExecuteRequest>,
) -> Result<Response, ApiError> {
    // Grants name plugins, not aliases; an unknown name goes on to be logged and answered
    // 404 as before.
    if let Ok(entry) = state.plugins.get(&request.plugin) {
        caller.check_plugin(entry.name())?;
    }
    let session_id = request
        .session_id
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    // A bad session id is answered where it always was, by the turn or the executor.
    if codex_store::validate_session_id(&session_id).is_ok() {
        state.owners.check_write(&caller, &session_id).await?;
    }
    if wants_events(&headers) {
        let actor = caller.actor().map(str::to_owned);
        return Ok(Sse::new(execute_events(&state, request, actor))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    // Cancels the plugin call when the client goes away and this future is dropped.
    let cancel = CancellationToken::new();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let mut call = ExecutionRequest::new(request.plugin.clone(), request.data)
        .with_session(session_id.clone())
        .with_actor(caller.actor());
    call.cancel = cancel;
    let run_id = request.run_id.unwrap_or_else(Uuid::now_v7);
    let logged = state
        .executor
        .execute_as(run_id, call, ExecutionSource::Api)
        .await?;
    Ok(Json(response(logged, session_id, run_id)).into_response())
}

fn response(logged: LoggedExecution, session_id: String, run_id: Uuid) -> ExecuteResponse {
    let execution = logged.execution;
    ExecuteResponse {
        plugin: execution.plugin,
        result: execution.result,
        duration_ms: execution.duration.as_secs_f64() * 1000.0,
        execution_id: logged.execution_id.to_string(),
        session_id,
        run_id: run_id.to_string(),
    }
}

/// Whether the client asked for server-sent events.
fn wants_events(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// A streamed execute: the call runs in a task of its own, so that a client closing the
/// stream cancels it (through the drop guard) and its cancelled end is still logged.
fn execute_events(
    state: &AppState,
    request: ExecuteRequest,
    actor: Option<String>,
) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    let session_id = request.session_id.unwrap_or_else(|| "default".to_owned());
    let run_id = request.run_id.unwrap_or_else(Uuid::now_v7);
    let cancel = CancellationToken::new();
    let (reports, mut progress) = mpsc::unbounded_channel::<Progress>();
    let mut call = ExecutionRequest::new(request.plugin, request.data)
        .with_session(session_id.clone())
        .with_actor(actor.as_deref())
        .with_progress(Arc::new(move |report| {
            let _ = reports.send(report);
        }));
    call.cancel = cancel.clone();
    let executor = state.executor.clone();
    let (done, outcome) = oneshot::channel();
    // The call outlives the handler, so it takes the request's trace and span along.
    let work = codex_plugin::trace::carried(async move {
        let _ = done.send(
            executor
                .execute_as(run_id, call, ExecutionSource::Api)
                .await,
        );
    });
    tokio::spawn(tracing::Instrument::in_current_span(work));
    async_stream::stream! {
        let _cancel_when_dropped = cancel.drop_guard();
        yield Ok(execute_event(&ExecuteStreamEvent::Started { run_id: run_id.to_string() }));
        // Reports come while the call runs; those queued when it ends come before its
        // outcome (a plugin may keep its sink past the call, so the end is the outcome).
        let mut outcome = std::pin::pin!(outcome);
        let finished = loop {
            let next = tokio::select! {
                biased;
                Some(report) = progress.recv() => Err(report),
                finished = &mut outcome => Ok(finished),
            };
            match next {
                Err(report) => yield Ok(progress_event(report)),
                Ok(finished) => break finished,
            }
        };
        while let Ok(report) = progress.try_recv() {
            yield Ok(progress_event(report));
        }
        let last = match finished {
            Ok(Ok(logged)) => ExecuteStreamEvent::Result(response(logged, session_id, run_id)),
            Ok(Err(error)) => ExecuteStreamEvent::Error(ApiError::from(error).body().error),
            Err(_) => ExecuteStreamEvent::Error(
                ApiError::Internal("the execution task ended without an outcome".to_owned())
                    .body()
                    .error,
            ),
        };
        yield Ok(execute_event(&last));
    }
}

fn progress_event(report: Progress) -> Event {
    execute_event(&ExecuteStreamEvent::Progress {
        fraction: report.fraction,
        message: report.message,
    })
}

fn execute_event(event: &ExecuteStreamEvent) -> Event {
    match serde_json::to_string(event) {
        Ok(json) => Event::default().event(event.name()).data(json),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise an execute event");
            Event::default()
                .event("error")
                .data(r#"{"code":"internal_error","message":"cannot serialise an event"}"#)
        }
    }
}

/// Switches a plugin on, for every server sharing the database (the switch is stored and
/// survives restarts).
#[utoipa::path(post, path = "/api/plugins/{name}/enable", operation_id = "enable_plugin", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name or alias")),
    responses((status = 200, body = PluginView), (status = 404, body = ErrorBody)))]
pub async fn enable(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    switch(&state, &name, true).await
}

/// Switches a plugin off, for every server sharing the database (the switch is stored and
/// survives restarts); calls get `plugin_disabled` until it is enabled again.
#[utoipa::path(post, path = "/api/plugins/{name}/disable", operation_id = "disable_plugin", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name or alias")),
    responses((status = 200, body = PluginView), (status = 404, body = ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    switch(&state, &name, false).await
}

/// Stores the switch (announcing it to the other servers), then applies it here at once.
async fn switch(state: &AppState, name: &str, enabled: bool) -> Result<Json<PluginView>, ApiError> {
    let canonical = state.plugins.get(name)?.info.name.clone();
    state
        .store
        .set_plugin_enabled(&canonical, Some(enabled))
        .await?;
    let entry = state.plugins.set_enabled(&canonical, enabled)?;
    Ok(Json(PluginView::from(&*entry)))
}

/// Sets a plugin's approval policy for every server sharing the database (stored, it
/// survives restarts): `allow`, `ask` (a model's calls wait for a person) or `deny` (refused
/// everywhere); `null` returns it to its manifest's or config file's.
#[utoipa::path(post, path = "/api/plugins/{name}/policy", operation_id = "set_plugin_policy", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name or alias")),
    request_body = PolicyRequest,
    responses(
        (status = 200, body = PluginView),
        (status = 400, description = "Not a policy", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn set_policy(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<PolicyRequest>,
) -> Result<Json<PluginView>, ApiError> {
    let canonical = state.plugins.get(&name)?.info.name.clone();
    let policy: Option<codex_plugin::Policy> = request.policy.map(Into::into);
    state
        .store
        .set_plugin_policy(&canonical, policy.map(codex_plugin::Policy::as_str))
        .await?;
    let entry = state.plugins.set_policy(&canonical, policy)?;
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
pub async fn tools(State(state): State<AppState>, Authed(caller): Authed) -> Json<ToolList> {
    let toolbox = state.plugins.toolbox(&caller.not_granted(&state.plugins));
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
