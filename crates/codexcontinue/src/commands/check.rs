//! `codexcontinue plugins check PATH [--input JSON]`: loads one plugin file (with its
//! manifest) or a folder of them exactly as the server would, runs each plugin's example
//! input, and prints what loaded, each result and every error; exits 1 on any error.
//!
//! A single file is checked in a staging folder of its own: the file and its manifest are
//! copied there, and everything beside them that is not another plugin (helper modules,
//! packages, data) is linked in, so imports work and no other plugin loads.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use codex_host::{ExecutionRequest, PluginEntry, PluginManager};

use crate::app;
use crate::settings::Settings;

/// How long an MCP server declared by a manifest has to list its tools.
const MCP_LISTING: Duration = Duration::from_secs(30);

const PLUGIN_SUFFIXES: [&str; 3] = ["_plugin.py", "_plugin.wasm", "_plugin.toml"];

pub async fn check(
    settings: &Settings,
    path: &Path,
    input: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let staging = Staging::new(path)?;
    let folder = staging.folder().to_owned();
    let mut settings = settings.clone();
    settings.host.plugins_dir.clone_from(&folder);
    settings.host.watch = false;
    let manager = app::plugins(&settings).await;
    wait_for_mcp_servers(&manager, &folder).await;

    let mine: Vec<_> = manager
        .list()
        .into_iter()
        .filter(|entry| from_folder(entry, &folder))
        .collect();
    let errors = manager.load_errors();
    let mut failed = !errors.is_empty();
    for entry in &mine {
        failed |= !report(&manager, entry, input, &staging).await;
    }
    for error in &errors {
        println!(
            "error: {}: {}",
            staging.shown(&error.file),
            staging.shown(&error.error)
        );
    }
    if mine.is_empty() && errors.is_empty() {
        println!("error: no plugin found in {}", path.display());
        failed = true;
    }
    manager.shutdown().await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints one plugin and runs its example (or `--input`); false when the run failed.
async fn report(
    manager: &PluginManager,
    entry: &PluginEntry,
    input: Option<&str>,
    staging: &Staging,
) -> bool {
    let from = entry
        .source
        .as_deref()
        .map(|p| p.display().to_string())
        .or_else(|| entry.declared_in.clone())
        .unwrap_or_default();
    println!(
        "loaded {} ({}) from {}",
        entry.name(),
        entry.kind.as_str(),
        staging.shown(&from)
    );
    if !entry.info.description.is_empty() {
        println!("  description: {}", entry.info.description);
    }
    println!("  input schema: {}", entry.info.input_schema);
    let data = match input {
        Some(text) => Some(codex_agent::chat::parse_input(text)),
        None => entry.info.example.clone(),
    };
    let Some(data) = data else {
        let how = if entry.declared_in.is_some() {
            "an MCP server's tools have none: pass --input"
        } else {
            "add `example` to its manifest, or pass --input"
        };
        println!("  not run: no example input ({how})");
        return true;
    };
    println!("  input: {data}");
    match manager
        .execute(ExecutionRequest::new(entry.name().to_owned(), data))
        .await
    {
        Ok(execution) => {
            let shown = serde_json::to_string_pretty(&execution.result)
                .unwrap_or_else(|_| execution.result.to_string());
            println!("  result ({} ms): {shown}", execution.duration.as_millis());
            true
        }
        Err(error) => {
            println!(
                "  error: {}: {}",
                error.code(),
                staging.shown(&error.logged_text())
            );
            false
        }
    }
}

/// Whether `entry` came from the checked folder (a file in it, or an MCP server declared by
/// a manifest in it), not from the built-ins or the config file.
fn from_folder(entry: &PluginEntry, folder: &Path) -> bool {
    entry
        .source
        .as_deref()
        .is_some_and(|p| p.starts_with(folder))
        || entry
            .declared_in
            .as_deref()
            .is_some_and(|p| Path::new(p).starts_with(folder))
}

/// Waits, bounded, until every MCP server a manifest of `folder` declares has listed its
/// tools or failed: servers start in the background.
async fn wait_for_mcp_servers(manager: &PluginManager, folder: &Path) {
    let servers = declared_servers(folder);
    if servers.is_empty() {
        return;
    }
    let mut changes = manager.subscribe();
    let settled = |manager: &PluginManager| {
        servers.iter().all(|name| {
            let prefix = format!("{name}__");
            manager.list().iter().any(|e| e.name().starts_with(&prefix))
                || manager
                    .load_errors()
                    .iter()
                    .any(|e| e.file == format!("mcp:{name}") || e.plugin.as_deref() == Some(name))
        })
    };
    let _ = tokio::time::timeout(MCP_LISTING, async {
        while !settled(manager) {
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
}

/// The names of the MCP servers `folder`'s manifests declare: manifests with `[mcp]` and no
/// plugin file of their own beside them.
fn declared_servers(folder: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = file.strip_suffix("_plugin.toml")?.to_owned();
            let alone = ["py", "wasm"]
                .iter()
                .all(|ext| !folder.join(format!("{name}_plugin.{ext}")).exists());
            let text = std::fs::read_to_string(entry.path()).ok()?;
            (alone && text.contains("[mcp]")).then_some(name)
        })
        .collect()
}

/// The folder checked: the one given, or a staging folder for a single file (removed when
/// dropped).
struct Staging {
    folder: PathBuf,
    /// The staging folder's path and the file's real folder, to show real paths.
    staged: Option<(PathBuf, PathBuf)>,
}

impl Staging {
    fn new(path: &Path) -> anyhow::Result<Staging> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            return Ok(Staging {
                folder: std::path::absolute(path)?,
                staged: None,
            });
        }
        let file = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(suffix) = PLUGIN_SUFFIXES.iter().find(|s| file.ends_with(*s)) else {
            bail!(
                "{} is not a plugin file: plugins are named NAME_plugin.py, NAME_plugin.wasm or \
                 NAME_plugin.toml (an MCP server's manifest)",
                path.display()
            );
        };
        let stem = &file[..file.len() - suffix.len() + "_plugin".len()];
        let real = std::path::absolute(path.parent().unwrap_or(Path::new(".")))?;
        let real = if real.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            real
        };
        let folder =
            std::env::temp_dir().join(format!("codexcontinue-check-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let staging = Staging {
            folder: folder.clone(),
            staged: Some((folder.clone(), real.clone())),
        };
        for entry in std::fs::read_dir(&real)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let target = folder.join(&name);
            if name.starts_with(&format!("{stem}.")) {
                std::fs::copy(entry.path(), &target)
                    .with_context(|| format!("cannot copy {}", entry.path().display()))?;
            } else if !PLUGIN_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                // Helpers, packages and data the plugin may import or read.
                std::os::unix::fs::symlink(entry.path(), &target)
                    .with_context(|| format!("cannot link {}", entry.path().display()))?;
            }
        }
        Ok(staging)
    }

    fn folder(&self) -> &Path {
        &self.folder
    }

    /// A path as the user knows it: inside the staging folder, the real one.
    fn shown(&self, path: &str) -> String {
        match &self.staged {
            Some((staging, real)) => {
                path.replace(&staging.display().to_string(), &real.display().to_string())
            }
            None => path.to_owned(),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.staged.is_some() {
            let _ = std::fs::remove_dir_all(&self.folder);
        }
    }
}
