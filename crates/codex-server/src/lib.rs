//! The HTTP edge of CodexContinue: REST routes, the JSON error envelope, OpenAPI.
//!
//! This is the only crate that knows axum, status codes and wire DTOs; everything
//! below it speaks domain types.

pub mod access;
mod app;
pub mod control;
mod correlation;
mod dto;
mod error;
mod extract;
pub mod mcp;
mod openapi;
mod router;
mod routes;
mod state;
mod switches;
pub mod telemetry;
mod web;

pub use app::{App, AppBuilder, AppConfig};
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use router::router;
pub use state::{AppState, ServerConfig};

use axum::serve::ListenerExt;
use std::future::Future;

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting, ends the
/// open `/mcp` event streams (`state.shutdown`) and lets in-flight requests finish. The
/// caller bounds how long that drain may take.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let streams = state.shutdown.clone();
    let shutdown = async move {
        shutdown.await;
        streams.cancel();
    };
    // No Nagle delay: a streamed answer is many small writes (one per token), each of
    // which should leave at once rather than wait for the previous one's ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
