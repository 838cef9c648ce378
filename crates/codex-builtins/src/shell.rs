//! The `shell` plugin: runs `sh -c <command>` bounded by the call's deadline and
//! cancellation, with capped output; off until config enables it.
//!
//! The command runs in its own process group. When the call times out, is cancelled or is
//! dropped, the whole group is killed (by running `kill -s KILL -- -<pgid>`, since sending a
//! signal directly would need `unsafe` or `libc`), so background jobs it started die too.

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

/// Runs a shell command and returns `{"stdout", "stderr", "exit_code"}`.
#[derive(Debug, Clone)]
pub struct ShellPlugin {
    info: PluginInfo,
}

impl ShellPlugin {
    pub fn new() -> Self {
        let info = PluginInfo::new("shell")
            .with_description(
                "Runs a command with `sh -c` and returns its stdout, stderr and exit code. \
                 Bounded by the call's timeout; long output is truncated. \
                 A plain string works as input. Disabled unless the server's config enables it.",
            )
            .with_version(VERSION)
            .with_author(AUTHOR)
            .with_category("system")
            .with_example(json!("echo hello"))
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
            None if ctx.cancel.is_cancelled() => PluginError::failed("the command was cancelled"),
            None => timeout(),
        };
        // Killed here rather than in `Drop` so the group is gone when the error returns.
        group.kill().await;
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
    let mut map = Map::new();
    map.insert("stdout".to_owned(), Value::String(utf8_text(stdout)));
    map.insert("stderr".to_owned(), Value::String(utf8_text(stderr)));
    map.insert("exit_code".to_owned(), json!(status.code()));
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

    /// Kills the group and waits for `kill` to have sent the signal.
    async fn kill(&mut self) {
        if let Some(id) = self.id.take() {
            let status = Command::new("sh")
                .args(["-c", &kill_command(id)])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
            if let Err(e) = status {
                tracing::warn!(plugin = "shell", pgid = id, error = %e, "could not kill the process group");
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        // Drop cannot await: start `kill` and reap it on a thread, so it leaves no zombie.
        match std::process::Command::new("sh")
            .args(["-c", &kill_command(id)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(mut kill) => {
                std::thread::spawn(move || kill.wait());
            }
            Err(e) => {
                tracing::warn!(plugin = "shell", pgid = id, error = %e, "could not kill the process group");
            }
        }
    }
}

/// `kill` as a shell builtin, so no separate binary is needed. The id is a number we
/// formatted ourselves, never input. Only the POSIX spelling `-s KILL --` works in every
/// `sh`: dash reads `kill -KILL -- -<pgid>` as a bad number.
fn kill_command(pgid: u32) -> String {
    format!("kill -s KILL -- -{pgid}")
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;

    fn context(config: Value, budget: Duration) -> ExecContext {
        ExecContext::new("test", Instant::now() + budget).with_config(Arc::new(config))
    }

    async fn run(input: Value, config: Value) -> Result<Value> {
        let ctx = context(config, Duration::from_secs(20));
        ShellPlugin::new().execute(input, &ctx).await
    }

    async fn check(input: Value, config: Value, expected: Result<Value>) {
        assert_eq!(run(input.clone(), config).await, expected, "{input}");
    }

    #[tokio::test]
    async fn runs_commands_and_reports_output_and_exit_code() {
        let ok = |stdout: &str, stderr: &str, code: i32| {
            Ok(json!({"stdout": stdout, "stderr": stderr, "exit_code": code}))
        };
        check(json!("echo hello"), Value::Null, ok("hello\n", "", 0)).await;
        check(
            json!({"command": "echo oops >&2; exit 3"}),
            Value::Null,
            ok("", "oops\n", 3),
        )
        .await;
        check(json!("printf 'a b'; false"), Value::Null, ok("a b", "", 1)).await;
        check(json!("cat"), Value::Null, ok("", "", 0)).await;
        check(
            json!("kill -9 $$"),
            Value::Null,
            Ok(json!({"stdout": "", "stderr": "", "exit_code": null, "signal": 9})),
        )
        .await;
    }

    #[tokio::test]
    async fn bad_input_and_config_are_rejected() {
        let invalid = |m: &str| Err(PluginError::invalid_input(m));
        check(
            json!(5),
            Value::Null,
            invalid("expected a command string or {\"command\": \"...\"}, not a number"),
        )
        .await;
        check(json!(" "), Value::Null, invalid("the command is empty")).await;
        check(json!({}), Value::Null, invalid("missing field 'command'")).await;
        check(
            json!({"cmd": "ls"}),
            Value::Null,
            invalid("unknown field 'cmd'; expected 'command', 'working_dir'"),
        )
        .await;
        check(
            json!({"command": "ls", "working_dir": 3}),
            Value::Null,
            invalid("'working_dir' must be a string, not a number"),
        )
        .await;
        let got = run(json!("echo hi"), json!({"max_output_bytes": "lots"})).await;
        assert!(
            matches!(&got, Err(PluginError::Failed(m)) if m.starts_with("invalid shell configuration")),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn unknown_config_keys_are_left_to_the_host() {
        check(
            json!("echo hi"),
            json!({"enabled": true}),
            Ok(json!({"stdout": "hi\n", "stderr": "", "exit_code": 0})),
        )
        .await;
    }

    #[tokio::test]
    async fn working_directory_comes_from_config_and_input() {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().canonicalize().expect("canonical temp dir");
        std::fs::create_dir(base.join("sub")).expect("sub dir");
        let pwd = |path: &Path| {
            Ok(json!({"stdout": format!("{}\n", path.display()), "stderr": "", "exit_code": 0}))
        };
        let config = json!({ "working_dir": base });
        check(json!("pwd -P"), config.clone(), pwd(&base)).await;
        check(
            json!({"command": "pwd -P", "working_dir": "sub"}),
            config.clone(),
            pwd(&base.join("sub")),
        )
        .await;
        check(
            json!({"command": "pwd -P", "working_dir": base.join("sub")}),
            Value::Null,
            pwd(&base.join("sub")),
        )
        .await;
        let missing = base.join("missing");
        check(
            json!({"command": "pwd", "working_dir": "missing"}),
            config,
            Err(PluginError::invalid_input(format!(
                "working directory '{}' does not exist or is not a directory",
                missing.display()
            ))),
        )
        .await;
    }

    #[tokio::test]
    async fn output_beyond_the_cap_is_truncated() {
        let config = json!({"max_output_bytes": 10});
        check(
            json!("printf abcdefghijklmnopqrstuvwxyz; printf 0123456789ab >&2"),
            config,
            Ok(json!({
                "stdout": "abcdefghij",
                "stderr": "0123456789",
                "exit_code": 0,
                "truncated": true
            })),
        )
        .await;
        // Exactly at the cap is not truncated.
        check(
            json!("printf abcdefghij"),
            json!({"max_output_bytes": 10}),
            Ok(json!({"stdout": "abcdefghij", "stderr": "", "exit_code": 0})),
        )
        .await;
        // A character cut by the cap is dropped, not turned into U+FFFD.
        check(
            json!("printf 'a\\303\\251\\342\\202\\254'"),
            json!({"max_output_bytes": 4}),
            Ok(json!({"stdout": "aé", "stderr": "", "exit_code": 0, "truncated": true})),
        )
        .await;
    }

    #[tokio::test]
    async fn output_far_beyond_the_pipe_buffer_does_not_block_the_command() {
        let got = run(
            json!("head -c 1000000 /dev/zero | tr '\\000' a; echo done >&2"),
            Value::Null,
        )
        .await
        .expect("command runs");
        assert_eq!(
            got["stdout"].as_str().map(str::len),
            Some(DEFAULT_MAX_OUTPUT_BYTES)
        );
        assert_eq!(got["stderr"], "done\n");
        assert_eq!(got["truncated"], true);
        assert_eq!(got["exit_code"], 0);
    }

    #[tokio::test]
    async fn a_command_past_the_deadline_times_out() {
        let started = Instant::now();
        let ctx = context(Value::Null, Duration::from_millis(300));
        let got = ShellPlugin::new().execute(json!("sleep 5"), &ctx).await;
        let elapsed = started.elapsed();
        assert!(
            matches!(&got, Err(PluginError::Timeout { plugin, after }) if plugin == "shell" && *after <= Duration::from_millis(300)),
            "{got:?}"
        );
        assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    }

    #[tokio::test]
    async fn a_deadline_already_past_runs_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("ran");
        let ctx = ExecContext::new("test", Instant::now());
        let command = format!("touch '{}'", marker.display());
        let got = ShellPlugin::new().execute(json!(command), &ctx).await;
        assert!(matches!(got, Err(PluginError::Timeout { .. })), "{got:?}");
        assert!(!marker.exists());
    }

    #[tokio::test]
    async fn cancellation_stops_the_command() {
        let cancel = CancellationToken::new();
        let ctx = context(Value::Null, Duration::from_secs(20)).with_cancel(cancel.clone());
        let plugin = ShellPlugin::new();
        let started = Instant::now();
        // `join!` polls the call first, so the command is running when the token fires.
        let (got, ()) = tokio::join!(plugin.execute(json!("sleep 5"), &ctx), async {
            cancel.cancel()
        });
        assert_eq!(got, Err(PluginError::failed("the command was cancelled")));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    /// Regression guard: killing only `sh` left its background jobs running after a timeout.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        // The shell waiting for its job, and the shell gone while its job keeps the output open.
        for ending in ["; wait", ""] {
            let dir = tempfile::tempdir().expect("temp dir");
            let pid_file = dir.path().join("pid");
            let command = format!("sleep 30 & echo $! > '{}'{ending}", pid_file.display());
            let ctx = context(Value::Null, Duration::from_secs(1));
            let got = ShellPlugin::new().execute(json!(command), &ctx).await;
            assert!(
                matches!(got, Err(PluginError::Timeout { .. })),
                "{command}: {got:?}"
            );
            let pid = std::fs::read_to_string(&pid_file).expect("the command wrote its job's pid");
            assert_gone(pid.trim()).await;
        }
    }

    /// The host enforces its own timeout by dropping the call's future; that must not leak
    /// the command either.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dropping_the_call_kills_the_process_group() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pid_file = dir.path().join("pid");
        let command = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
        let ctx = context(Value::Null, Duration::from_secs(20));
        let plugin = ShellPlugin::new();
        let call = plugin.execute(json!(command), &ctx);
        let got = tokio::time::timeout(Duration::from_secs(1), call).await;
        assert!(got.is_err(), "the call should still be running: {got:?}");
        let pid = std::fs::read_to_string(&pid_file).expect("the command wrote its job's pid");
        assert_gone(pid.trim()).await;
    }

    /// Waits, at most 5 s, for process `pid` to be dead (gone or a zombie).
    #[cfg(target_os = "linux")]
    async fn assert_gone(pid: &str) {
        let stat = format!("/proc/{pid}/stat");
        // The signal has been sent when the call returns, but the kernel finishes the
        // process asynchronously and offers no notification to wait on, so poll, bounded.
        let gone = || match std::fs::read_to_string(&stat) {
            Err(_) => true,
            // The state follows the parenthesised command name; Z is a zombie.
            Ok(text) => text
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        };
        let polling_since = Instant::now();
        while !gone() {
            assert!(
                polling_since.elapsed() < Duration::from_secs(5),
                "background job {pid} survived the timeout"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
