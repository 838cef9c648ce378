//! One module per command.

mod chat;
mod keys;
mod mcp;
mod migrate;
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
    }
}
