//! `codexcontinue serve`: the HTTP server until SIGINT or SIGTERM, then a bounded drain,
//! plugin shutdown, and the store closed last so every acknowledged write is flushed.

use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::cli::{Cli, ServeArgs};
use crate::settings;

pub async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = settings::load(cli, args.bind.as_deref())?;
    app::init_logging(&settings, false);
    if let Some(source) = &settings.source {
        tracing::info!(config = %source.display(), "config loaded");
    }
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    // Plugins load in the background, several at a time: the server answers meanwhile
    // (`/health` says `loading`), and a call of a plugin not loaded yet waits for it.
    let app = app::start_serving(&settings).await?;
    tracing::info!(database = %app::database_label(&settings), "store open");
    let manager = app.plugins().clone();
    let watcher = if settings.host.watch {
        match manager.watch() {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the plugins folder; hot reload is off");
                None
            }
        }
    } else {
        None
    };
    let state = app.state().clone();
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "listening");
    // Tests and scripts read this line to learn the port when binding to :0.
    println!("codexcontinue listening on http://{local}");

    let stop = CancellationToken::new();
    let server = tokio::spawn(codex_server::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));
    let mut server = server;
    tokio::select! {
        result = &mut server => {
            result.context("server task failed")?.context("server failed")?;
        }
        () = shutdown_signal() => {
            tracing::info!("shutting down: draining in-flight requests");
            stop.cancel();
            match tokio::time::timeout(settings.shutdown_grace, &mut server).await {
                Ok(result) => result.context("server task failed")?.context("server failed")?,
                Err(_) => {
                    tracing::warn!(grace_ms = settings.shutdown_grace.as_millis() as u64, "requests still running at the end of the grace period");
                    server.abort();
                }
            }
        }
    }
    drop(watcher);
    app.shutdown().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
