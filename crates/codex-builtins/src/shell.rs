//! The `shell` plugin: runs `sh -c <command>` bounded by the call's deadline and
//! cancellation, with capped output; off until config enables it.
//!
//! The command runs in its own process group. When the call times out, is cancelled or is
//! dropped, the whole group is killed (`killpg` through `nix`, which keeps `unsafe` out of
//! this workspace), so background jobs it started die too.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Instant;

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo, Result};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::input;
use crate::{AUTHOR, VERSION};

/// `shell` runs arbitrary commands, so it stays disabled until config turns it on.
pub const ENABLED_BY_DEFAULT: bool = false;

/// Output kept per stream when config does not say.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// The plugin's configuration, read from [`ExecContext::config`] on every call.
///
/// Keys the plugin does not know are ignored: the host may keep its own keys
/// (such as `enabled`) in the same table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ShellConfig {
    /// Where commands run; relative `working_dir`s in calls are resolved against it.
    /// The server's current directory when absent.
    pub working_dir: Option<PathBuf>,
    /// Bytes kept of each of stdout and stderr; the rest is read and dropped.
    pub max_output_bytes: usize,
}

impl Default for ShellConfig {
    fn default() -> Self {
        ShellConfig {
            working_dir: None,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

impl ShellConfig {
    fn from_context(config: &Value) -> Result<ShellConfig> {
        if config.is_null() {
            return Ok(ShellConfig::default());
        }
        ShellConfig::deserialize(config)
            .map_err(|e| PluginError::failed(format!("invalid shell configuration: {e}")))
    }
}

/// Runs a shell command and returns `{"stdout", "stderr", "exit_code", "output"}`, where
/// `output` is what the original project's shell plugin answered: the stdout, or the stderr
/// when the command failed.
#[derive(Debug, Clone)]
pub struct ShellPlugin {
    info: PluginInfo,
}

impl ShellPlugin {
    pub fn new() -> Self {
        let info = PluginInfo::new("shell")
            .with_description(
                "Runs a command with `sh -c` and returns its stdout, stderr and exit code, and as \
                 output its stdout (its stderr when it failed). \
                 Bounded by the call's timeout; long output is truncated. \
                 A plain string works as input. Disabled unless the server's config enables it.",
            )
            .with_version(VERSION)
            .with_author(AUTHOR)
            .with_category("system")
            .with_example(json!({"command": "echo hello"}))
            .with_input_schema(json!({
                "type": "object",
                "properties": {
                    "command": {
                        "type": "string",
                        "description": "The command line, run by `sh -c`.",
                        "minLength": 1
                    },
                    "working_dir": {
                        "type": "string",
                        "description": "Directory to run in; relative paths are resolved against the configured working directory."
                    }
                },
                "required": ["command"],
                "additionalProperties": false
            }));
        ShellPlugin { info }
    }
}

impl Default for ShellPlugin {
    fn default() -> Self {
        ShellPlugin::new()
    }
}

/// One call's request, read from the input.
struct Request<'a> {
    command: &'a str,
    working_dir: Option<&'a str>,
}

impl<'a> Request<'a> {
    fn parse(data: &'a Value) -> Result<Request<'a>> {
        let request = match data {
            Value::String(command) => Request {
                command,
                working_dir: None,
            },
            Value::Object(map) => {
                input::reject_unknown_fields(map, &["command", "working_dir"])?;
                Request {
                    command: input::required_string(map, "command")?,
                    working_dir: input::optional_string(map, "working_dir")?,
                }
            }
            other => {
                return Err(PluginError::invalid_input(format!(
                    "expected a command string or {{\"command\": \"...\"}}, not {}",
                    input::kind(other)
                )));
            }
        };
        if request.command.trim().is_empty() {
            return Err(PluginError::invalid_input("the command is empty"));
        }
        Ok(request)
    }
}

#[async_trait]
impl Plugin for ShellPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, data: Value, ctx: &ExecContext) -> Result<Value> {
        let request = Request::parse(&data)?;
        let config = ShellConfig::from_context(&ctx.config)?;
        let started = Instant::now();
        let timeout = || PluginError::Timeout {
            plugin: "shell".to_owned(),
            after: ctx.deadline.saturating_duration_since(started),
        };
        if ctx.remaining().is_zero() {
            return Err(timeout());
        }

        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(request.command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        if let Some(dir) = working_dir(&config, request.working_dir) {
            if !dir.is_dir() {
                return Err(PluginError::invalid_input(format!(
                    "working directory '{}' does not exist or is not a directory",
                    dir.display()
                )));
            }
            command.current_dir(dir);
        }

        let mut child = command
            .spawn()
            .map_err(|e| PluginError::failed(format!("could not start sh: {e}")))?;
        // From here until the command has finished, leaving this function by any path
        // (timeout, cancellation, the caller dropping the future) kills the group.
        let mut group = ProcessGroup::new(child.id());
        tracing::debug!(
            plugin = "shell",
            session_id = %ctx.session_id,
            pid = ?child.id(),
            "command started"
        );

        let limit = config.max_output_bytes;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async {
            tokio::try_join!(
                read_capped(stdout, limit),
                read_capped(stderr, limit),
                child.wait(),
            )
        };
        let outcome = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => None,
            () = tokio::time::sleep_until(ctx.deadline.into()) => None,
            outcome = run => Some(outcome),
        };
        let failure = match outcome {
            Some(Ok(output)) => {
                group.disarm();
                let ((stdout, stdout_truncated), (stderr, stderr_truncated), status) = output;
                tracing::debug!(
                    plugin = "shell",
                    session_id = %ctx.session_id,
                    duration_ms = started.elapsed().as_millis() as u64,
                    exit_code = ?status.code(),
                    "command finished"
                );
                return Ok(result(
                    stdout,
                    stderr,
                    status,
                    stdout_truncated || stderr_truncated,
                ));
            }
            Some(Err(e)) => PluginError::failed(format!("reading the command's output: {e}")),
            None if ctx.cancel.is_cancelled() => PluginError::Cancelled,
            None => timeout(),
        };
        // Killed here rather than in `Drop` so the group is gone when the error returns.
        group.kill();
        // Also reaps the shell itself, unless it had exited already (leaving background jobs
        // that held the output open until the deadline).
        if !matches!(child.try_wait(), Ok(Some(_)))
            && let Err(e) = child.kill().await
        {
            tracing::warn!(plugin = "shell", error = %e, "could not kill the shell");
        }
        Err(failure)
    }
}

fn working_dir(config: &ShellConfig, requested: Option<&str>) -> Option<PathBuf> {
    match (&config.working_dir, requested) {
        (base, Some(dir)) => Some(match base {
            Some(base) => base.join(dir),
            None => PathBuf::from(dir),
        }),
        (Some(base), None) => Some(base.clone()),
        (None, None) => None,
    }
}

fn result(stdout: Vec<u8>, stderr: Vec<u8>, status: ExitStatus, truncated: bool) -> Value {
    let stdout = utf8_text(stdout);
    let stderr = utf8_text(stderr);
    let output = if status.success() { &stdout } else { &stderr }.clone();
    let mut map = Map::new();
    map.insert("stdout".to_owned(), Value::String(stdout));
    map.insert("stderr".to_owned(), Value::String(stderr));
    map.insert("exit_code".to_owned(), json!(status.code()));
    map.insert("output".to_owned(), Value::String(output));
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            map.insert("signal".to_owned(), json!(signal));
        }
    }
    if truncated {
        map.insert("truncated".to_owned(), Value::Bool(true));
    }
    Value::Object(map)
}

/// Reads a stream to its end, keeping the first `limit` bytes; the flag says whether
/// anything was dropped. Reading on past the limit keeps the child from blocking on a full pipe.
async fn read_capped(
    stream: Option<impl AsyncRead + Unpin>,
    limit: usize,
) -> std::io::Result<(Vec<u8>, bool)> {
    let Some(mut stream) = stream else {
        return Ok((Vec::new(), false));
    };
    let mut kept = Vec::new();
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    (&mut stream).take(limit).read_to_end(&mut kept).await?;
    let dropped = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await?;
    Ok((kept, dropped > 0))
}

/// Output as text; invalid UTF-8 becomes U+FFFD, and a character cut in half by the
/// output cap is dropped rather than shown as garbage.
fn utf8_text(mut bytes: Vec<u8>) -> String {
    if let Err(e) = std::str::from_utf8(&bytes)
        && e.error_len().is_none()
    {
        bytes.truncate(e.valid_up_to());
    }
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// The command's process group, killed when dropped unless the command finished.
struct ProcessGroup {
    /// The group id, which is the shell's pid (`process_group(0)`); `None` once disarmed.
    id: Option<u32>,
}

impl ProcessGroup {
    fn new(id: Option<u32>) -> Self {
        ProcessGroup { id }
    }

    /// The command finished: its group id may be reused by an unrelated process from now on,
    /// so it must never be signalled.
    fn disarm(&mut self) {
        self.id = None;
    }

    /// Sends `SIGKILL` to every process of the group; the signal is delivered when this
    /// returns.
    fn kill(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        #[cfg(unix)]
        {
            use nix::sys::signal::{Signal, killpg};
            use nix::unistd::Pid;
            let Ok(raw) = i32::try_from(id) else {
                return;
            };
            // ESRCH: every process of the group has exited already, which is what we want.
            match killpg(Pid::from_raw(raw), Signal::SIGKILL) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    tracing::warn!(plugin = "shell", pgid = id, error = %e, "could not kill the process group");
                }
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests;
