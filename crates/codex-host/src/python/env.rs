//! Per-plugin virtual environments: a manifest's `[python] requirements` (pip specifiers)
//! are installed once into a virtual environment of the plugin's own under the cache
//! folder, and the plugin's workers run its Python.
//!
//! An environment is named by the plugin, the base interpreter and the requirements, so a
//! changed requirement makes a new one and an unchanged one is reused across restarts. It is
//! complete once its marker file exists: a half-made one (an install killed midway) is made
//! again from scratch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::process::Command;

/// Written last: the environment is complete.
const MARKER: &str = ".codexcontinue-ready";

/// How much of pip's output a load error keeps.
const OUTPUT_TAIL: usize = 3000;

/// One install at a time per environment in this process (a reload while it installs waits
/// for it rather than installing twice).
static INSTALLS: LazyLock<parking_lot::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// The Python of `plugin`'s environment with `requirements`, made from `base` under
/// `envs_dir` when it does not exist yet; the error says what failed, with pip's words.
pub(crate) async fn ensure(
    plugin: &str,
    base: &Path,
    requirements: &[String],
    envs_dir: &Path,
    timeout: Duration,
) -> Result<PathBuf, String> {
    let mut sorted = requirements.to_vec();
    sorted.sort();
    let key = format!("{}\n{}", base.display(), sorted.join("\n"));
    let dir = envs_dir.join(format!("{plugin}-{:016x}", crate::mcp::fnv1a(&key)));
    let python = dir.join("bin").join("python");
    let lock = INSTALLS.lock().entry(dir.clone()).or_default().clone();
    let _one_install = lock.lock().await;
    if dir.join(MARKER).is_file() {
        return Ok(python);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot remove the unfinished {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(envs_dir)
        .map_err(|e| format!("cannot create {}: {e}", envs_dir.display()))?;
    tracing::info!(plugin, env = %dir.display(), requirements = ?sorted, "making the plugin's Python environment");
    let made = run(Command::new(base).arg("-m").arg("venv").arg(&dir), timeout)
        .await
        .map_err(|e| {
            format!(
                "cannot make a virtual environment with {}: {e}",
                base.display()
            )
        })?;
    if !made.0 {
        return Err(format!(
            "cannot make a virtual environment with {}: {}",
            base.display(),
            made.1
        ));
    }
    let installed = run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-q",
            ])
            .args(&sorted),
        timeout,
    )
    .await
    .map_err(|e| format!("cannot run pip: {e}"))?;
    if !installed.0 {
        return Err(format!(
            "pip could not install the requirements {} into {}:\n{}",
            sorted.join(", "),
            dir.display(),
            installed.1
        ));
    }
    std::fs::write(dir.join(MARKER), sorted.join("\n"))
        .map_err(|e| format!("cannot finish {}: {e}", dir.display()))?;
    Ok(python)
}

/// Runs `command` to its end within `timeout`: whether it succeeded, and the tail of what it
/// printed (stderr, then stdout).
async fn run(command: &mut Command, timeout: Duration) -> Result<(bool, String), String> {
    let output = tokio::time::timeout(timeout, command.kill_on_drop(true).output())
        .await
        .map_err(|_| format!("it did not finish within {} s", timeout.as_secs()))?
        .map_err(|e| e.to_string())?;
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    Ok((
        output.status.success(),
        super::protocol::tail(&text, OUTPUT_TAIL),
    ))
}
