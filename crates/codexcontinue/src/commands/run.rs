//! `codexcontinue run <plugin> <input...>`: one call in-process, logged under `--session`,
//! the result on stdout.

use std::process::ExitCode;

use anyhow::Context;

use codex_agent::ExecuteError;
use codex_host::ExecutionRequest;
use codex_store::ExecutionSource;

use crate::app;
use crate::cli::{Cli, RunArgs};
use crate::settings;

pub async fn run(cli: &Cli, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let settings = settings::load(cli, None)?;
    app::init_logging(&settings, true);
    let app = app::start(&settings).await?;
    let input = codex_agent::chat::parse_input(&args.input.join(" "));
    let request = ExecutionRequest::new(args.plugin.clone(), input)
        .with_session(args.session.clone())
        .with_actor(Some(&super::local_actor()));
    let outcome = app.executor().execute(request, ExecutionSource::Cli).await;
    app.shutdown().await;
    match outcome {
        Ok(logged) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&logged.execution.result)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ExecuteError::Store(e)) => Err(e).context("the execution could not be logged"),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
