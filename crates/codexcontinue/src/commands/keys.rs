//! `codexcontinue keys create|list|revoke`: the API keys kept in the database, with or without
//! a server running (servers hear of every change over the store's bus).

use std::process::ExitCode;

use anyhow::{Context, bail};
use codex_store::{EventStore, KeyRole, NewApiKey, StoreOptions};

use crate::app;
use crate::cli::{Cli, KeysArgs, KeysCommand};
use crate::settings;

pub async fn keys(cli: &Cli, args: &KeysArgs) -> anyhow::Result<ExitCode> {
    let settings = settings::load(cli, None)?;
    app::init_logging(&settings, true);
    let store = open_store(&settings).await?;
    let answer = match &args.command {
        KeysCommand::Create {
            name,
            role,
            plugins,
            rate,
        } => create(store.as_ref(), name, role, plugins, rate.as_deref()).await,
        KeysCommand::List { json } => list(store.as_ref(), *json).await,
        KeysCommand::Revoke { name } => {
            if store.revoke_key(name).await? {
                println!("revoked {name}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: no live key named {name:?}");
                Ok(ExitCode::FAILURE)
            }
        }
    };
    store.close().await;
    answer
}

/// The store of the configured database, migrated.
pub async fn open_store(
    settings: &settings::Settings,
) -> anyhow::Result<std::sync::Arc<dyn EventStore>> {
    codex_store::connect(
        &settings.database_url,
        StoreOptions::default().with_max_connections(2),
    )
    .await
    .with_context(|| format!("cannot open the database {}", app::database_label(settings)))
}

async fn create(
    store: &dyn EventStore,
    name: &str,
    role: &str,
    plugins: &[String],
    rate: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let Some(role) = KeyRole::parse(role) else {
        bail!("--role {role:?}: use admin or user");
    };
    let rate_per_second = rate
        .map(settings::parse_rate)
        .transpose()
        .context("--rate")?;
    let grants: Vec<String> = plugins
        .iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let issued = store
        .create_key(NewApiKey {
            name: name.to_owned(),
            role,
            grants,
            rate_per_second,
        })
        .await?;
    eprintln!(
        "created {} key {:?}; it is shown once, store it now:",
        issued.record.role, issued.record.name
    );
    println!("{}", issued.secret);
    Ok(ExitCode::SUCCESS)
}

async fn list(store: &dyn EventStore, json: bool) -> anyhow::Result<ExitCode> {
    let keys = store.keys().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&keys)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = keys.iter().map(|k| k.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:width$}  {:5}  {:7}  {:20}  {:20}  {:10}  PLUGINS",
        "NAME", "ROLE", "STATE", "CREATED", "LAST USED", "RATE"
    );
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
    };
    for key in &keys {
        let state = if key.revoked_at.is_some() {
            "revoked"
        } else {
            "live"
        };
        let rate = key
            .rate_per_second
            .map_or_else(|| "-".to_owned(), |r| format!("{r}/s"));
        let grants = if key.role == KeyRole::Admin {
            "(all)".to_owned()
        } else {
            key.grants.join(",")
        };
        println!(
            "{:width$}  {:5}  {:7}  {:20}  {:20}  {:10}  {}",
            key.name,
            key.role.as_str(),
            state,
            time(Some(key.created_at)),
            time(key.last_used_at),
            rate,
            grants,
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use crate::settings::parse_rate;

    #[test]
    fn rates_are_read_per_second() {
        assert_eq!(parse_rate("10/s").ok(), Some(10.0));
        assert_eq!(parse_rate("30/m").ok(), Some(0.5));
        assert_eq!(parse_rate("7").ok(), Some(7.0));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("x/s").is_err());
        assert!(parse_rate("5/fortnight").is_err());
    }
}
