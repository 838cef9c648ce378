//! Cancel-to-stopped latency per runtime, through the real `PluginManager`:
//! `cargo run -p codex-host --example cancel_bench -- [iterations]` (see `bench/cancel.sh`).
//!
//! Each iteration starts a call that would run for a minute, waits until it runs, cancels
//! its token, and measures until the work itself has stopped:
//! - Python: a plugin sleeping in steps; stopped = its worker process is gone;
//! - Wasm: `hostile`'s endless loop on a pool of one instance; stopped = a follow-up
//!   `echo` call on that one instance has answered (so the loop was really interrupted);
//! - MCP: `faulty.py`'s `hang` tool; stopped = the server has recorded the cancellation
//!   it received (`notifications/cancelled`) in its log.
//!
//! Needs `$CODEX_WASM_PLUGINS_DIR/hostile_plugin.wasm` (scripts/build-wasm-examples.sh) and
//! the test venv's Python with the `mcp` package (`$CODEX_TEST_VENV`, from
//! scripts/ensure-test-tools.sh).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_host::python::PythonRuntime;
use codex_host::wasm::WasmRuntime;
use codex_host::{ExecutionRequest, HostConfig, McpServerConfig, PluginManager};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A plugin that reports progress once it runs, then sleeps in 10 ms steps for a minute.
const SLEEPER: &str = r#"
import os, time
from codexcontinue import PluginInterface

class SleeperPlugin(PluginInterface):
    def initialize(self):
        pass

    def shutdown(self):
        pass

    def execute(self, data):
        self.progress(0.0, str(os.getpid()))
        for _ in range(6000):
            time.sleep(0.01)
        return "woke up"
"#;

/// Bounds every wait of one iteration.
const LIMIT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50);
    let python = python(iterations).await?;
    report("python", &python);
    let wasm = wasm(iterations).await?;
    report("wasm", &wasm);
    let mcp = mcp(iterations).await?;
    report("mcp", &mcp);
    Ok(())
}

fn report(runtime: &str, samples: &[Duration]) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "{runtime:<6} n={:<4} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
        ms.len(),
        at(0.50),
        at(0.99),
        ms[ms.len() - 1]
    );
}

/// Starts a call of `plugin` with `data` whose progress reports go to the returned channel.
fn start(
    manager: &PluginManager,
    plugin: &str,
    data: Value,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<Result<codex_host::Execution, codex_plugin::PluginError>>,
    mpsc::UnboundedReceiver<codex_plugin::Progress>,
) {
    let (reports, received) = mpsc::unbounded_channel();
    let request = ExecutionRequest::new(plugin, data).with_progress(Arc::new(move |report| {
        let _ = reports.send(report);
    }));
    let cancel = request.cancel.clone();
    let manager = manager.clone();
    let call = tokio::spawn(async move { manager.execute(request).await });
    (cancel, call, received)
}

async fn python(iterations: usize) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("sleeper_plugin.py"), SLEEPER)?;
    let manager = PluginManager::builder(HostConfig::new(dir.path()))
        .with_runtime(Arc::new(PythonRuntime::default()))
        .start()
        .await;
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let (cancel, call, mut reports) = start(&manager, "sleeper", json!(null));
        let first = tokio::time::timeout(LIMIT, reports.recv())
            .await?
            .ok_or("the sleeper never reported")?;
        let pid = first.message.ok_or("no pid")?;
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let cancelled = Instant::now();
        cancel.cancel();
        let _ = call.await?;
        wait_until(|| !proc.exists()).await?;
        samples.push(cancelled.elapsed());
    }
    manager.shutdown().await;
    Ok(samples)
}

async fn wasm(iterations: usize) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let modules = std::env::var_os("CODEX_WASM_PLUGINS_DIR")
        .map(PathBuf::from)
        .ok_or("set CODEX_WASM_PLUGINS_DIR")?;
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        modules.join("hostile_plugin.wasm"),
        dir.path().join("hostile_plugin.wasm"),
    )?;
    std::fs::write(
        dir.path().join("hostile_plugin.toml"),
        "timeout_ms = 60000\n[wasm]\npool_size = 1\n",
    )?;
    let manager = PluginManager::builder(HostConfig::new(dir.path()))
        .with_runtime(Arc::new(WasmRuntime::default()))
        .start()
        .await;
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let (cancel, call, _reports) = start(&manager, "hostile", json!("loop"));
        // The loop gives no sign that it runs; a moment is enough for the call to start.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let cancelled = Instant::now();
        cancel.cancel();
        let _ = call.await?;
        tokio::time::timeout(
            LIMIT,
            manager.execute(ExecutionRequest::new("hostile", json!("echo"))),
        )
        .await??;
        samples.push(cancelled.elapsed());
    }
    manager.shutdown().await;
    Ok(samples)
}

async fn mcp(iterations: usize) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let venv = std::env::var_os("CODEX_TEST_VENV")
        .map(PathBuf::from)
        .ok_or("set CODEX_TEST_VENV")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/faulty.py");
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("cancelled.log");
    let mut config = HostConfig::new(dir.path().join("plugins"));
    config.mcp_servers = BTreeMap::from([(
        "faulty".to_owned(),
        McpServerConfig::stdio(
            venv.join("bin/python").display().to_string(),
            [
                script.display().to_string(),
                "serve".to_owned(),
                log.display().to_string(),
            ],
        ),
    )]);
    let manager = PluginManager::builder(config).start().await;
    let mut changes = manager.subscribe();
    tokio::time::timeout(LIMIT, async {
        while manager.get("faulty__hang").is_err() {
            let _ = changes.changed().await;
        }
    })
    .await?;
    let lines = || {
        std::fs::read_to_string(&log)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    };
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let (cancel, call, _reports) = start(&manager, "faulty__hang", json!({}));
        // The request has gone out once the call waits on the server.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let cancelled = Instant::now();
        cancel.cancel();
        let _ = call.await?;
        wait_until(|| lines() > i).await?;
        samples.push(cancelled.elapsed());
    }
    manager.shutdown().await;
    Ok(samples)
}

/// Polls `done` every 200 µs, up to [`LIMIT`].
async fn wait_until(done: impl Fn() -> bool) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        if Instant::now() > deadline {
            return Err("the work did not stop in time".into());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}
