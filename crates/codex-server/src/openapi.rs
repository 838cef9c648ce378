//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::{dto, error, routes, telemetry};

#[derive(OpenApi)]
#[openapi(
    info(title = "CodexContinue", description = "Self-hosted plugin backend for an AI developer assistant."),
    paths(
        routes::plugins::list,
        routes::plugins::get,
        routes::plugins::execute,
        routes::plugins::enable,
        routes::plugins::disable,
        routes::plugins::reload,
        routes::plugins::tools,
        routes::keys::list,
        routes::keys::create,
        routes::keys::revoke,
        routes::memory::get,
        routes::memory::reset,
        routes::memory::audit,
        routes::sessions::purge,
        routes::sessions::plugin_logs,
        routes::executions::list,
        routes::running::list,
        routes::running::cancel_execution,
        routes::running::cancel_turn,
        routes::approvals::list,
        routes::approvals::answer,
        routes::plugins::set_policy,
        routes::history::sessions,
        routes::history::events,
        routes::analytics::analytics,
        routes::analytics::original,
        routes::system::health,
        routes::system::version,
        telemetry::metrics,
        routes::chat::chat,
        routes::chat::stream,
        routes::openai::completions,
        routes::openai::models,
        routes::original::plugin_names,
        routes::original::session_ids,
        routes::original::models,
        routes::original::status,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, dto::PluginView, dto::LoadErrorView, dto::ExecuteStreamEvent)),
    tags(
        (name = "plugins", description = "List, inspect, switch and run plugins"),
        (name = "keys", description = "API keys kept in the store, their roles, grants and rates (admin keys only)"),
        (name = "memory", description = "Session memory, its reset, and the audit timeline"),
        (name = "sessions", description = "Sessions, their purge, their plugin logs, and the executions across them"),
        (name = "analytics", description = "Plugin calls, errors and latency over time"),
        (name = "running", description = "Executions and chat turns running now, and cancelling them"),
        (name = "approvals", description = "Tool calls of chat turns waiting for a person, and answering them"),
        (name = "system", description = "Health, version and Prometheus metrics"),
        (name = "chat", description = "Chat turns: `/run` dispatch or the model's tool loop, whole or streamed"),
        (name = "openai", description = "OpenAI-compatible chat completions and model list"),
        (name = "original", description = "The original project's paths whose shapes differ from the richer ones under `/api/`"),
    )
)]
pub struct ApiDoc;
