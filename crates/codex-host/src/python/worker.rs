//! One Python worker process: spawning it, its stderr tail, and killing it. Its calls go
//! through [`Calls`], whose reader task owns the worker's stdout.
//!
//! The child is owned by a reaper task tied to a cancellation token: cancelling the
//! token (explicitly, on drop of the [`Worker`], or when the pool or runtime goes away)
//! kills the process, and the reaper publishes its exit status.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::calls::{Calls, Outcome, SendError, read_responses};
use super::protocol::{self, RpcError};
use super::shim::ShimDir;

/// How long a worker that closed its stdout gets to exit before it is killed, and how
/// long its last stderr output gets to arrive, when a crash is being reported.
const EXIT_GRACE: Duration = Duration::from_millis(1000);
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// Everything needed to start a worker for one plugin file.
#[derive(Debug)]
pub(crate) struct WorkerSpec {
    /// The plugin's name, for logs.
    pub plugin: Arc<str>,
    pub interpreter: PathBuf,
    pub plugin_path: PathBuf,
    pub class_name: String,
    pub shim: Arc<ShimDir>,
    /// `PYTHONPATH` for the worker: the shim folder, then whatever the host had.
    pub pythonpath: OsString,
    pub max_line_bytes: usize,
    pub stderr_tail_bytes: usize,
    /// The manifest's `[config]` table, handed to `initialize` in every worker.
    pub config: Value,
    /// The runtime's fork servers; `None` spawns every worker.
    #[cfg(target_os = "linux")]
    pub fork_servers: Option<Arc<super::fork::ForkServers>>,
}

/// Why a call did not produce a result.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The worker answered with an error and stays usable.
    Rpc(RpcError),
    /// The worker is unusable (exited, crashed, broke the protocol). The message says
    /// why and carries the exit status and the stderr tail.
    Died(String),
    /// The worker died before it read the call, which never ran.
    NotStarted,
}

impl From<Outcome> for Result<Value, CallError> {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Answered(response) => match response.error {
                Some(error) => Err(CallError::Rpc(error)),
                None => Ok(response.result),
            },
            Outcome::Died(message) => Err(CallError::Died(message)),
            Outcome::NotStarted => Err(CallError::NotStarted),
        }
    }
}

/// A running worker. Dropping it kills the process.
pub(crate) struct Worker {
    pid: Option<u32>,
    calls: Arc<Calls>,
    /// The exit status as text, once the process has exited.
    exit: watch::Receiver<Option<String>>,
    kill: CancellationToken,
}

impl Worker {
    /// Starts a worker for the spec's plugin: forked by the interpreter's fork server when
    /// the runtime has fork servers (and that one works), else spawned as a fresh
    /// interpreter. The plugin is imported right away, and the first answer (to
    /// `describe`) says whether that worked. `freed` is signalled whenever one of its calls
    /// ends.
    pub async fn start(
        spec: &WorkerSpec,
        parent: &CancellationToken,
        freed: Arc<Notify>,
    ) -> Result<Worker, String> {
        let (ours, theirs) = pipes().map_err(|e| format!("cannot make the worker's pipes: {e}"))?;
        let kill = parent.child_token();
        let (exit_tx, exit) = watch::channel(None);
        #[cfg(target_os = "linux")]
        let forked = match &spec.fork_servers {
            Some(servers) => servers.fork(spec, &theirs).await,
            None => None,
        };
        #[cfg(not(target_os = "linux"))]
        let forked: Option<std::convert::Infallible> = None;
        let pid = match forked {
            #[cfg(target_os = "linux")]
            Some(forked) => {
                drop(theirs);
                let pid = forked.pid;
                let kill = kill.clone();
                tokio::spawn(async move {
                    exit_tx.send_replace(Some(super::fork::reap(forked, kill).await));
                });
                tracing::debug!(plugin = %spec.plugin, pid, "python worker forked");
                Some(pid)
            }
            #[cfg(not(target_os = "linux"))]
            Some(never) => match never {},
            None => {
                let mut command = Command::new(&spec.interpreter);
                command
                    .arg(spec.shim.worker_script())
                    .arg(&spec.plugin_path)
                    .arg(&spec.class_name);
                worker_env(&mut command, spec);
                command
                    .stdin(Stdio::from(theirs.stdin))
                    .stdout(Stdio::from(theirs.stdout))
                    .stderr(Stdio::from(theirs.stderr))
                    .kill_on_drop(true);
                // Its own process group: a Ctrl-C at the terminal stops the server, which then
                // shuts the workers down in order, instead of interrupting them mid-call.
                #[cfg(unix)]
                command.process_group(0);
                let child = command.spawn().map_err(|e| {
                    format!(
                        "cannot start the Python interpreter '{}': {e}",
                        spec.interpreter.display()
                    )
                })?;
                // The child's ends of the pipes are closed here with the command.
                drop(command);
                let pid = child.id();
                tokio::spawn(reap(child, kill.clone(), exit_tx));
                tracing::debug!(plugin = %spec.plugin, pid, "python worker started");
                pid
            }
        };
        let tail = Arc::new(StderrTail::new(spec.stderr_tail_bytes));
        let stderr_task = tokio::spawn(drain_stderr(
            ours.stderr,
            tail.clone(),
            spec.plugin.clone(),
            pid,
        ));
        let calls = Calls::new(ours.stdin, kill.clone(), freed);
        let obituary = Obituary {
            plugin: spec.plugin.clone(),
            pid,
            exit: exit.clone(),
            stderr: tail,
            stderr_task,
        };
        tokio::spawn(read_responses(
            calls.clone(),
            BufReader::with_capacity(64 * 1024, ours.stdout),
            spec.max_line_bytes,
            obituary,
        ));
        Ok(Worker {
            pid,
            calls,
            exit,
            kill,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Its calls: room on it, and how fast it answers.
    pub fn calls(&self) -> &Arc<Calls> {
        &self.calls
    }

    /// One round trip, alone on the worker (`describe`, `initialize`, `shutdown`).
    pub async fn call<P: Serialize>(&self, method: &str, params: P) -> Result<Value, CallError> {
        match self.calls.reserve().send(method, params, None).await {
            Ok(mut call) => call.outcome().await.into(),
            Err(SendError::Closed) => Err(CallError::NotStarted),
            Err(SendError::Encode(message)) => Err(CallError::Rpc(RpcError {
                code: protocol::code::PLUGIN_ERROR,
                message,
                data: None,
            })),
        }
    }

    /// Closes stdin so the worker leaves its loop, and waits up to `grace` for it to
    /// exit; dropping the worker afterwards kills it if it is still running.
    pub async fn close(&self, grace: Duration) {
        self.calls.close_stdin().await;
        if wait_exit(&mut self.exit.clone(), grace).await.is_none() {
            tracing::warn!(pid = self.pid, "python worker did not exit; killing it");
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill.cancel();
    }
}

/// What the reader of a worker's stdout needs to say why the worker died.
pub(crate) struct Obituary {
    plugin: Arc<str>,
    pid: Option<u32>,
    exit: watch::Receiver<Option<String>>,
    stderr: Arc<StderrTail>,
    stderr_task: JoinHandle<()>,
}

impl Obituary {
    /// The reason, the exit status and the stderr tail. A worker that closed its output
    /// gets a moment to exit, so that its own exit status is reported, and is then killed.
    /// An `expected` end is logged at debug level only.
    pub async fn write(
        mut self,
        reason: String,
        kill: &CancellationToken,
        expected: bool,
    ) -> String {
        let mut status = wait_exit(&mut self.exit, EXIT_GRACE).await;
        if status.is_none() {
            kill.cancel();
            status = wait_exit(&mut self.exit, EXIT_GRACE).await;
        }
        let _ = tokio::time::timeout(STDERR_GRACE, &mut self.stderr_task).await;
        let mut message = reason;
        if let Some(status) = status {
            message.push_str(&format!(" ({status})"));
        }
        let tail = self.stderr.text();
        if !tail.trim().is_empty() {
            message.push_str("; stderr:\n");
            message.push_str(tail.trim_end());
        }
        if expected {
            tracing::debug!(plugin = %self.plugin, pid = self.pid, status = %message, "python worker ended");
        } else {
            tracing::warn!(plugin = %self.plugin, pid = self.pid, error = %message, "python worker died");
        }
        message
    }
}

async fn wait_exit(exit: &mut watch::Receiver<Option<String>>, grace: Duration) -> Option<String> {
    match tokio::time::timeout(grace, exit.wait_for(Option::is_some)).await {
        Ok(Ok(status)) => status.clone(),
        _ => None,
    }
}

/// The environment every worker (and fork server) of a spec runs in.
pub(crate) fn worker_env(command: &mut Command, spec: &WorkerSpec) {
    command
        .env("PYTHONPATH", &spec.pythonpath)
        .env("PYTHONPYCACHEPREFIX", spec.shim.pycache())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONIOENCODING", "utf-8:backslashreplace");
}

/// The host's ends of a worker's standard streams.
struct HostEnds {
    stdin: pipe::Sender,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
}

/// The worker's ends: its stdin, stdout and stderr.
pub(crate) struct ChildEnds {
    pub stdin: std::io::PipeReader,
    pub stdout: std::io::PipeWriter,
    pub stderr: std::io::PipeWriter,
}

/// Three pipes (close-on-exec), split into the host's ends and the worker's.
fn pipes() -> std::io::Result<(HostEnds, ChildEnds)> {
    let (stdin_r, stdin_w) = std::io::pipe()?;
    let (stdout_r, stdout_w) = std::io::pipe()?;
    let (stderr_r, stderr_w) = std::io::pipe()?;
    let host = HostEnds {
        stdin: pipe::Sender::from_owned_fd(stdin_w.into())?,
        stdout: pipe::Receiver::from_owned_fd(stdout_r.into())?,
        stderr: pipe::Receiver::from_owned_fd(stderr_r.into())?,
    };
    let child = ChildEnds {
        stdin: stdin_r,
        stdout: stdout_w,
        stderr: stderr_w,
    };
    Ok((host, child))
}

/// Owns the child: waits for it to exit, or kills it when `kill` is cancelled.
async fn reap(mut child: Child, kill: CancellationToken, exit: watch::Sender<Option<String>>) {
    let status = tokio::select! {
        status = child.wait() => status,
        () = kill.cancelled() => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    let text = match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("exit status unknown: {e}"),
    };
    exit.send_replace(Some(text));
}

/// The last few KiB a worker wrote to stderr (plugin prints included).
#[derive(Debug)]
pub(crate) struct StderrTail {
    bytes: Mutex<VecDeque<u8>>,
    capacity: usize,
}

impl StderrTail {
    pub(crate) fn new(capacity: usize) -> Self {
        StderrTail {
            bytes: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
        }
    }

    fn push(&self, chunk: &[u8]) {
        let chunk = &chunk[chunk.len().saturating_sub(self.capacity)..];
        let mut bytes = self.bytes.lock();
        let excess = (bytes.len() + chunk.len()).saturating_sub(self.capacity);
        bytes.drain(..excess);
        bytes.extend(chunk);
    }

    pub(crate) fn text(&self) -> String {
        let mut bytes = self.bytes.lock();
        String::from_utf8_lossy(bytes.make_contiguous()).into_owned()
    }
}

/// Copies the worker's stderr into its tail and logs it line by line at debug level.
pub(crate) async fn drain_stderr<R: AsyncRead + Unpin>(
    mut stderr: R,
    tail: Arc<StderrTail>,
    plugin: Arc<str>,
    pid: Option<u32>,
) {
    const MAX_LOGGED_LINE: usize = 4096;
    let mut buf = vec![0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    let log = |line: &[u8]| {
        let text = String::from_utf8_lossy(line);
        tracing::debug!(plugin = %plugin, pid, line = %text.trim_end(), "python stderr");
    };
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tail.push(&buf[..n]);
        if !tracing::enabled!(tracing::Level::DEBUG) {
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            log(&pending[..end]);
            pending.drain(..=end);
        }
        if pending.len() > MAX_LOGGED_LINE {
            log(&pending);
            pending.clear();
        }
    }
    if !pending.is_empty() {
        log(&pending);
    }
}

/// Reads one line from `reader` into `line` (without the newline); `Ok(false)` at the end of
/// the stream. A line over `max_line_bytes` is an error, found before it is all buffered.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max_line_bytes: usize,
) -> Result<bool, String> {
    line.clear();
    loop {
        let available = reader
            .fill_buf()
            .await
            .map_err(|e| format!("cannot read from the worker ({e})"))?;
        if available.is_empty() {
            return Ok(false);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (end, true),
            None => (available.len(), false),
        };
        if line.len() + chunk > max_line_bytes {
            return Err(format!(
                "the worker sent a response line over the limit of {max_line_bytes} bytes"
            ));
        }
        line.extend_from_slice(&available[..chunk]);
        reader.consume(chunk + usize::from(done));
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_keeps_the_last_bytes() {
        let tail = StderrTail::new(8);
        tail.push(b"hello ");
        tail.push(b"world");
        assert_eq!(tail.text(), "lo world");
        tail.push(b"0123456789abc");
        assert_eq!(tail.text(), "56789abc");
    }
}
