//! `codexcontinue mcp`: the enabled plugins as MCP tools over stdin and stdout, for MCP
//! clients (Claude Desktop, IDEs) that start their servers as child processes.
//!
//! Stdout is the protocol: logs go to stderr, and nothing here prints.

use std::process::ExitCode;

use anyhow::Context;

use crate::app;
use crate::cli::Cli;
use crate::settings;

pub async fn mcp(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = settings::load(cli, None)?;
    app::init_logging(&settings, true);
    let app = app::start(&settings).await?;
    // Hot reload works here too, so clients hear `tools/list_changed`.
    let watcher = if settings.host.watch {
        match app.plugins().watch() {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the plugins folder; hot reload is off");
                None
            }
        }
    } else {
        None
    };
    let served = codex_server::mcp::serve_stdio(app.executor().clone()).await;
    drop(watcher);
    app.shutdown().await;
    served.context("the MCP session failed")?;
    Ok(ExitCode::SUCCESS)
}
