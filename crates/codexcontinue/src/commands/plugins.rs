//! `codexcontinue plugins [list|info <name>] [--json]`.

use std::process::ExitCode;

use codex_host::PluginEntry;
use serde_json::json;

use crate::app;
use crate::cli::{Cli, PluginsArgs, PluginsCommand};
use crate::settings;

pub async fn plugins(cli: &Cli, args: &PluginsArgs) -> anyhow::Result<ExitCode> {
    let settings = settings::load(cli, None)?;
    app::init_logging(&settings, true);
    let manager = app::plugins(&settings).await;
    let code = match &args.command {
        None => list(&manager, args.json),
        Some(PluginsCommand::List { json }) => list(&manager, *json || args.json),
        Some(PluginsCommand::Info { name }) => match manager.get(name) {
            Ok(entry) => {
                println!("{}", serde_json::to_string_pretty(&describe(&entry))?);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    };
    manager.shutdown().await;
    Ok(code)
}

fn list(manager: &codex_host::PluginManager, as_json: bool) -> ExitCode {
    let entries = manager.list();
    let errors = manager.load_errors();
    if as_json {
        let value = json!({
            "plugins": entries.iter().map(|e| describe(e)).collect::<Vec<_>>(),
            "load_errors": errors,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let width = entries
        .iter()
        .map(|e| e.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:width$}  {:7}  {:8}  {:11}  DESCRIPTION",
        "NAME", "KIND", "VERSION", "STATE"
    );
    for entry in &entries {
        let state = if !entry.is_available() {
            "unavailable"
        } else if entry.is_enabled() {
            "enabled"
        } else {
            "disabled"
        };
        println!(
            "{:width$}  {:7}  {:8}  {:11}  {}",
            entry.name(),
            entry.kind.as_str(),
            entry.info.version,
            state,
            first_line(&entry.info.description),
        );
    }
    for entry in &entries {
        if let Some(reason) = entry.unavailable_reason() {
            println!("~ {} is unavailable: {}", entry.name(), first_line(&reason));
        }
    }
    for entry in entries.iter().filter(|e| e.shadows.is_some()) {
        let builtin = entry.shadows.as_deref().unwrap_or_default();
        let file = entry
            .source
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        println!(
            "~ {file} shadows the built-in {builtin} ([plugins.{builtin}] prefer = \"builtin\" keeps the built-in)"
        );
    }
    for error in &errors {
        println!("! {}: {}", error.file, first_line(&error.error));
    }
    ExitCode::SUCCESS
}

fn describe(entry: &PluginEntry) -> serde_json::Value {
    let reason = entry.unavailable_reason();
    json!({
        "name": entry.info.name,
        "description": entry.info.description,
        "version": entry.info.version,
        "author": entry.info.author,
        "category": entry.info.category,
        "example": entry.info.example,
        "input_schema": entry.info.input_schema,
        "kind": entry.kind,
        "enabled": entry.is_enabled(),
        "available": reason.is_none(),
        "unavailable_reason": reason,
        "aliases": entry.aliases,
        "source": entry.source,
        "shadows": entry.shadows,
        "updated_at": entry.summary().updated_at,
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
