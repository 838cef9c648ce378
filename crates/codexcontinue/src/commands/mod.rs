//! One module per command.

mod chat;
mod check;
mod keys;
mod mcp;
mod migrate;
mod new;
mod plugins;
mod run;
mod serve;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Serve(args) => serve::serve(&cli, args).await,
        Command::Run(args) => run::run(&cli, args).await,
        Command::Plugins(args) => plugins::plugins(&cli, args).await,
        Command::Mcp => mcp::mcp(&cli).await,
        Command::Migrate => migrate::migrate(&cli).await,
        Command::Keys(args) => keys::keys(&cli, args).await,
        Command::Chat(args) => chat::chat(&cli, args).await,
        Command::New(args) => new::new(&cli, args),
    }
}

/// The actor recorded on what `run` and the terminal chat do: no key is involved, the person
/// at the terminal acted, so `cli:` and the local user's name (`$USER`, else `$LOGNAME`), or
/// `cli` when neither is set.
fn local_actor() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|user| !user.is_empty()))
        .map_or_else(|| "cli".to_owned(), |user| format!("cli:{user}"))
}
