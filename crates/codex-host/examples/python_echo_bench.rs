//! Throughput of a Python echo plugin through the real `PluginManager`, without HTTP:
//! `cargo run --release -p codex-host --example python_echo_bench -- [pool_size] [secs]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use codex_host::python::{PythonOptions, PythonRuntime};
use codex_host::{ExecutionRequest, HostConfig, PluginManager};
use serde_json::json;

const ECHO: &str = "from app.plugins.interface import PluginInterface\n\n\
class EchoPlugin(PluginInterface):\n    def initialize(self):\n        pass\n\n    \
def execute(self, data):\n        return {\"echo\": data}\n\n    def shutdown(self):\n        pass\n";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let pool_size: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2);
    let secs: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("echo_plugin.py"), ECHO)?;
    let options = PythonOptions {
        pool_size,
        ..PythonOptions::default()
    };
    let manager = PluginManager::builder(HostConfig::new(dir.path()))
        .with_runtime(Arc::new(PythonRuntime::new(options)))
        .start()
        .await;
    for concurrency in [1, 16, 64] {
        let done = Arc::new(AtomicU64::new(0));
        let until = Instant::now() + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let manager = manager.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    while Instant::now() < until {
                        let request = ExecutionRequest::new("echo", json!("hello world"));
                        if manager.execute(request).await.is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        let calls = done.load(Ordering::Relaxed);
        println!(
            "pool {pool_size} concurrency {concurrency:>3}: {:>8.0} calls/s",
            calls as f64 / secs as f64
        );
    }
    manager.shutdown().await;
    Ok(())
}
