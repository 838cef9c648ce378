//! `codexcontinue run <plugin> <input...>`: one call in-process, logged under `--session`,
//! the result on stdout.

use std::process::ExitCode;

use anyhow::Context;

use codex_agent::ExecuteError;
use codex_host::ExecutionRequest;
use codex_store::ExecutionSource;
use serde_json::Value;

use crate::app;
use crate::cli::{Cli, RunArgs};
use crate::settings;

pub async fn run(cli: &Cli, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let settings = settings::load(cli, None)?;
    app::init_logging(&settings, true);
    let executor = app::executor(&settings).await?;
    let input = parse_input(&args.input.join(" "));
    let request =
        ExecutionRequest::new(args.plugin.clone(), input).with_session(args.session.clone());
    let outcome = executor.execute(request, ExecutionSource::Cli).await;
    executor.plugins().shutdown().await;
    executor.store().close().await;
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

/// Input that looks like JSON (an object, array or quoted string) is parsed as JSON;
/// anything else, `2*(3+4)` or `echo hi`, is a plain string.
fn parse_input(text: &str) -> Value {
    let trimmed = text.trim_start();
    if trimmed.starts_with(['{', '[', '"'])
        && let Ok(value) = serde_json::from_str(trimmed)
    {
        return value;
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: &str, expected: Value) {
        assert_eq!(parse_input(input), expected, "{input}");
    }

    #[test]
    fn input_is_json_only_when_it_looks_like_it() {
        check("2*(3+4)", json!("2*(3+4)"));
        check("42", json!("42"));
        check("{\"expression\": \"1+1\"}", json!({"expression": "1+1"}));
        check("[1, 2]", json!([1, 2]));
        check("{not json", json!("{not json"));
        check("", json!(""));
    }
}
