//! Wire types of the original project's paths whose shapes differ from ours
//! (`/plugins`, `/sessions`, `/models`, `/status`), as its frontend and scripts read them.

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /plugins`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginNames {
    /// Plugin names, in load order.
    pub plugins: Vec<String>,
}

/// `GET /sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionIds {
    /// Session ids, most recently active first.
    pub sessions: Vec<String>,
}

/// `GET /models`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelsResponse {
    /// The model of each configured provider, in fallback order, without repeats.
    pub models: Vec<String>,
    /// True when a model is configured and every provider naming an `api_key_env` finds
    /// that variable set.
    pub api_key_configured: bool,
    /// The model tried first; null without a model.
    pub default_model: Option<String>,
}

/// `GET /status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    /// `ok`.
    pub status: &'static str,
    pub model_configured: bool,
    pub available_models: Vec<String>,
    /// The model tried first; null without a model.
    pub default_model: Option<String>,
    /// Plugins loaded.
    pub plugins: usize,
}
