//! Measures how long the PluginManager takes to load 20 WebAssembly plugins, with an empty
//! compiled-module cache (cold) and with the cache a previous start filled (warm), and the
//! latency of one call.
//!
//! The plugins are copies of `word_count_plugin.wasm`, each given a custom section of its
//! own so their bytes, and so their cache entries, differ, as 20 real plugins would.
//! Run through `bench/wasm_load.sh`, which builds the module first.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_host::wasm::{WasmOptions, WasmRuntime};
use codex_host::{ExecutionRequest, HostConfig, PluginManager};
use serde_json::json;

const PLUGINS: usize = 20;
const ROUNDS: usize = 3;
const CALLS: u32 = 20_000;

#[tokio::main]
async fn main() -> Result<(), String> {
    let modules = match std::env::var_os("CODEX_WASM_PLUGINS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?)
            .join(".cache/codexcontinue/wasm-plugins"),
    };
    let source = modules.join("word_count_plugin.wasm");
    let bytes = std::fs::read(&source).map_err(|e| {
        format!(
            "cannot read {} (run bench/wasm_load.sh): {e}",
            source.display()
        )
    })?;
    let plugins = tempfile::tempdir().map_err(|e| e.to_string())?;
    for n in 0..PLUGINS {
        let copy = with_custom_section(&bytes, &format!("copy {n}"));
        std::fs::write(plugins.path().join(format!("wc{n}_plugin.wasm")), copy)
            .map_err(|e| e.to_string())?;
    }
    println!(
        "{PLUGINS} copies of {} ({} KiB)",
        source.display(),
        bytes.len() / 1024
    );

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..ROUNDS {
        let cache = tempfile::tempdir().map_err(|e| e.to_string())?;
        for samples in [&mut cold, &mut warm] {
            let (took, manager) = start(plugins.path(), cache.path()).await?;
            manager.shutdown().await;
            samples.push(took);
        }
    }
    println!(
        "load of {PLUGINS} plugins, cold (empty cache): {}",
        range(&cold)
    );
    println!(
        "load of {PLUGINS} plugins, warm (cache filled): {}",
        range(&warm)
    );

    let cache = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_, manager) = start(plugins.path(), cache.path()).await?;
    let request = || ExecutionRequest::new("wc0", json!("the quick brown fox"));
    manager
        .execute(request())
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    for _ in 0..CALLS {
        manager
            .execute(request())
            .await
            .map_err(|e| e.to_string())?;
    }
    let per_call = started.elapsed() / CALLS;
    println!("one call through PluginManager::execute, sequential: {per_call:.1?}");

    let callers = 8;
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move {
                for _ in 0..CALLS / callers {
                    manager
                        .execute(ExecutionRequest::new("wc0", json!("the quick brown fox")))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let rate = f64::from(CALLS) / started.elapsed().as_secs_f64();
    println!("{callers} concurrent callers: {rate:.0} calls/s");
    manager.shutdown().await;
    Ok(())
}

/// Starts a manager on `plugins`, with how long loading took.
async fn start(plugins: &Path, cache: &Path) -> Result<(Duration, PluginManager), String> {
    let runtime = Arc::new(WasmRuntime::new(
        WasmOptions::default().with_cache_dir(cache),
    ));
    let started = Instant::now();
    let manager = PluginManager::builder(HostConfig::new(plugins))
        .with_runtime(runtime)
        .start()
        .await;
    let took = started.elapsed();
    if !manager.load_errors().is_empty() || manager.list().len() != PLUGINS {
        return Err(format!("load failed: {:?}", manager.load_errors()));
    }
    Ok((took, manager))
}

fn range(samples: &[Duration]) -> String {
    let min = samples.iter().min().copied().unwrap_or_default();
    let max = samples.iter().max().copied().unwrap_or_default();
    format!("{min:.0?} to {max:.0?} ({} rounds)", samples.len())
}

/// `module` with a custom section appended (id 0, then the section's size, the name's
/// length and the name), which changes its bytes but not its behaviour.
fn with_custom_section(module: &[u8], name: &str) -> Vec<u8> {
    let mut payload = leb128(name.len());
    payload.extend_from_slice(name.as_bytes());
    let mut out = module.to_vec();
    out.push(0);
    out.extend(leb128(payload.len()));
    out.extend(payload);
    out
}

fn leb128(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}
