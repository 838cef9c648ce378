//! `hostile`: a test-only WebAssembly plugin that misbehaves on request, so the host's
//! sandbox and limits can be checked against real Wasm built from source.
//!
//! Input is a mode, as a plain string (`"loop"`) or an object (`{"mode": "read", "path": "/data/x"}`):
//! - `echo`: answers `{"input": ..., "initialized": bool}`;
//! - `loop`: reports the progress message `looping`, then spins forever (the host's timeout
//!   or a cancel must stop it);
//! - `oom`: grows memory forever (the host's memory limit must stop it);
//! - `big`: returns a 4 MiB JSON string (the host's output cap must refuse it);
//! - `text`: returns plain text that is not JSON;
//! - `trap`: panics, which traps the instance (its `initialize` installs a panic hook that
//!   hands the message to the host's `codex_panic`);
//! - `fail`: returns an error;
//! - `config`: returns the config value named by `key`;
//! - `read`: reads the file at `path` (only works under a granted `allowed_paths` entry);
//! - `http`: requests `url` (only works for a granted `allowed_hosts` entry);
//! - `progress`: reports `steps` progress steps through the host's `codex_progress`
//!   function, then answers `{"steps": n}`.
//!
//! The `shutdown` export writes a file to the config value `shutdown_marker` when set,
//! which shows both that `shutdown` ran and that granted paths are writable.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

use extism_pdk::*;
use serde_json::{Value, json};

static INITIALIZED: AtomicBool = AtomicBool::new(false);

#[host_fn]
extern "ExtismHost" {
    /// The host's progress function: a JSON object `{"fraction", "message"}`.
    fn codex_progress(report: String);
    /// The host's panic function: the panic's message and location, before the trap.
    fn codex_panic(message: String);
}

#[plugin_fn]
pub fn initialize() -> FnResult<()> {
    INITIALIZED.store(true, Ordering::SeqCst);
    // A panic's message and location reach the caller through the host (docs/PLUGINS.md).
    std::panic::set_hook(Box::new(|info| {
        // SAFETY: an Extism host import taking one string, as the host declares it.
        let _ = unsafe { codex_panic(info.to_string()) };
    }));
    Ok(())
}

#[plugin_fn]
pub fn shutdown() -> FnResult<()> {
    if let Some(path) = config::get("shutdown_marker")? {
        std::fs::write(&path, "shut down")
            .map_err(|e| Error::msg(format!("cannot write {path}: {e}")))?;
    }
    Ok(())
}

#[plugin_fn]
pub fn execute(input: String) -> FnResult<String> {
    let data: Value = serde_json::from_str(&input)?;
    let mode = match &data {
        Value::String(mode) => mode.clone(),
        Value::Object(fields) => fields
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("echo")
            .to_owned(),
        _ => "echo".to_owned(),
    };
    let field = |name: &str| {
        data.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match mode.as_str() {
        "echo" => Ok(
            json!({"input": data, "initialized": INITIALIZED.load(Ordering::SeqCst)}).to_string(),
        ),
        "loop" => {
            // Says it is spinning, so a test can cancel it knowing the loop has begun.
            // SAFETY: an Extism host import taking one string, as the host declares it.
            unsafe { codex_progress(json!({"message": "looping"}).to_string())? };
            let mut n: u64 = 0;
            loop {
                n = black_box(n.wrapping_add(1));
            }
        }
        "oom" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(black_box(vec![1u8; 1 << 20]));
            }
        }
        "big" => Ok(json!("x".repeat(4 << 20)).to_string()),
        "text" => Ok("plain text, not JSON".to_owned()),
        "trap" => panic!("the hostile plugin panicked on purpose"),
        "fail" => Err(Error::msg("the hostile plugin refused on purpose").into()),
        "config" => Ok(json!(config::get(&field("key"))?).to_string()),
        "read" => {
            let path = field("path");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::msg(format!("cannot read {path}: {e}")))?;
            Ok(json!(text).to_string())
        }
        "http" => {
            let response = http::request::<()>(&HttpRequest::new(field("url")), None)?;
            Ok(json!({"status": response.status_code()}).to_string())
        }
        "progress" => {
            let steps = data.get("steps").and_then(Value::as_u64).unwrap_or(3);
            for step in 1..=steps {
                let report = json!({"fraction": step as f64 / steps as f64, "message": format!("step {step} of {steps}")});
                // SAFETY: an Extism host import taking one string, as the host declares it.
                unsafe { codex_progress(report.to_string())? };
            }
            Ok(json!({"steps": steps}).to_string())
        }
        other => Err(Error::msg(format!("unknown mode '{other}'")).into()),
    }
}

#[plugin_fn]
pub fn describe() -> FnResult<String> {
    Ok(json!({
        "description": "Misbehaves on request; for tests only.",
        "category": "testing",
        "example": "echo"
    })
    .to_string())
}
