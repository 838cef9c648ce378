//! The `codexcontinue` binary: parses the command line and the config, builds everything
//! explicitly, and runs the chosen command. It is glue; the work happens in the crates.

mod app;
mod cli;
mod commands;
mod settings;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the C library's allocator: a request allocates and frees many small
/// buffers across threads (an event is built on a runtime worker and freed on the store's
/// writer thread), which glibc's per-arena locks and consolidation made a tenth of the
/// server's time under load (docs/PERFORMANCE.md, "Execution logging").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
