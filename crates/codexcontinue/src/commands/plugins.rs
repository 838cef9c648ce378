//! `codexcontinue plugins [list|info <name>|enable <name>|disable <name>|reset <name>] [--json]`,
//! and `plugins check <path>`, which loads one plugin file or folder as the server would.

use std::process::ExitCode;

use codex_host::PluginEntry;
use serde_json::json;

use crate::app;
use crate::cli::{Cli, PluginsArgs, PluginsCommand};
use crate::settings;

pub async fn plugins(cli: &Cli, args: &PluginsArgs) -> anyhow::Result<ExitCode> {
    let settings = settings::load(cli, None)?;
    app::init_logging(&settings, true);
    if let Some(PluginsCommand::Check { path, input }) = &args.command {
        return super::check::check(&settings, path, input.as_deref()).await;
    }
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
        Some(PluginsCommand::Enable { name }) => {
            switch(&settings, &manager, name, Some(true)).await?
        }
        Some(PluginsCommand::Disable { name }) => {
            switch(&settings, &manager, name, Some(false)).await?
        }
        Some(PluginsCommand::Reset { name }) => switch(&settings, &manager, name, None).await?,
        Some(PluginsCommand::Check { .. }) => unreachable!("answered above"),
    };
    manager.shutdown().await;
    Ok(code)
}

/// Stores a plugin's switch for every server sharing the database, or clears it (`None`); a
/// running server hears of it over the store's bus and applies it within a second.
async fn switch(
    settings: &settings::Settings,
    manager: &codex_host::PluginManager,
    name: &str,
    enabled: Option<bool>,
) -> anyhow::Result<ExitCode> {
    // Aliases resolve to the plugin's own name, which is what servers look up.
    let name = match manager.get(name) {
        Ok(entry) => entry.name().to_owned(),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let store = super::keys::open_store(settings).await?;
    let stored = store.set_plugin_enabled(&name, enabled).await;
    store.close().await;
    stored?;
    let done = match enabled {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "reset to its configuration",
    };
    println!("{name} {done}");
    Ok(ExitCode::SUCCESS)
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
