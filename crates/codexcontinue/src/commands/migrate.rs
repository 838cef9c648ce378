//! `codexcontinue migrate`: applies pending database migrations, nothing else.

use std::process::ExitCode;

use anyhow::Context;

use crate::app;
use crate::cli::Cli;
use crate::settings;

pub async fn migrate(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = settings::load(cli, None)?;
    app::init_logging(&settings, true);
    let label = app::database_label(&settings);
    codex_store::migrate(&settings.database_url)
        .await
        .with_context(|| format!("cannot migrate the database {label}"))?;
    println!("database {label} is up to date");
    Ok(ExitCode::SUCCESS)
}
