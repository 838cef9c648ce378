//! One Python worker process: spawning it, one request/response round trip at a time,
//! its stderr tail, and killing it.
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
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use codex_plugin::{Progress, ProgressSink};

use super::protocol::{self, Response, RpcError, method};
use super::shim::ShimDir;

/// How long a worker that closed its stdout gets to exit before it is killed, and how
/// long its last stderr output gets to arrive, when a crash is being reported.
const EXIT_GRACE: Duration = Duration::from_millis(1000);
const STDERR_GRACE: Duration = Duration::from_millis(500);
/// A response buffer grown past this is released after the call.
const KEEP_LINE_CAPACITY: usize = 1 << 20;

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

/// One line read while a request is pending.
enum Incoming {
    Progress(Progress),
    Response(Response),
}

/// Why a call did not produce a result.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The worker answered with an error and stays usable.
    Rpc(RpcError),
    /// The worker is unusable (exited, crashed, broke the protocol). The message says
    /// why and carries the exit status and the stderr tail.
    Died(String),
}

/// A running worker. Dropping it kills the process.
pub(crate) struct Worker {
    plugin: Arc<str>,
    pid: Option<u32>,
    /// `None` once closed for a graceful exit.
    stdin: Option<pipe::Sender>,
    stdout: BufReader<pipe::Receiver>,
    out: Vec<u8>,
    line: Vec<u8>,
    next_id: u64,
    max_line_bytes: usize,
    /// The exit status as text, once the process has exited.
    exit: watch::Receiver<Option<String>>,
    stderr: Arc<StderrTail>,
    stderr_task: Option<JoinHandle<()>>,
    kill: CancellationToken,
}

impl Worker {
    /// Starts a worker for the spec's plugin: forked by the interpreter's fork server when
    /// the runtime has fork servers (and that one works), else spawned as a fresh
    /// interpreter. The plugin is imported right away, and the first answer (to
    /// `describe`) says whether that worked.
    pub async fn start(spec: &WorkerSpec, parent: &CancellationToken) -> Result<Worker, String> {
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
        Ok(Worker {
            plugin: spec.plugin.clone(),
            pid,
            stdin: Some(ours.stdin),
            stdout: BufReader::with_capacity(64 * 1024, ours.stdout),
            out: Vec::with_capacity(1024),
            line: Vec::with_capacity(1024),
            next_id: 1,
            max_line_bytes: spec.max_line_bytes,
            exit,
            stderr: tail,
            stderr_task: Some(stderr_task),
            kill,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub fn is_alive(&self) -> bool {
        self.exit.borrow().is_none()
    }

    /// Kills the process now (the reaper collects it).
    pub fn kill(&self) {
        self.kill.cancel();
    }

    /// One round trip: one request line written, one response line read.
    pub async fn call<P: Serialize>(
        &mut self,
        method: &str,
        params: P,
    ) -> Result<Value, CallError> {
        self.call_with_progress(method, params, None).await
    }

    /// [`Worker::call`], handing the progress notifications that arrive before the
    /// response to `progress`.
    pub async fn call_with_progress<P: Serialize>(
        &mut self,
        method: &str,
        params: P,
        progress: Option<&ProgressSink>,
    ) -> Result<Value, CallError> {
        let id = self.next_id;
        self.next_id += 1;
        self.out.clear();
        if let Err(e) = protocol::encode_request(&mut self.out, id, method, params) {
            return Err(CallError::Rpc(RpcError {
                code: protocol::code::PLUGIN_ERROR,
                message: format!("cannot encode the request: {e}"),
                data: None,
            }));
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(CallError::Died("the worker is shutting down".to_owned()));
        };
        if let Err(e) = stdin.write_all(&self.out).await {
            return Err(self
                .died(format!("the worker stopped reading ({e})"), false)
                .await);
        }
        let (result, broke_protocol) = loop {
            let read = self.read_line().await;
            // Anything but a clean end of stream means the worker is in an unknown state.
            let broke_protocol = !matches!(read, Ok(false));
            let result = match read {
                Ok(true) => self.parse_response(id),
                Ok(false) => Err("the worker exited".to_owned()),
                Err(e) => Err(e),
            };
            match result {
                Ok(Incoming::Progress(report)) => {
                    if let Some(sink) = progress {
                        sink(report);
                    }
                }
                Ok(Incoming::Response(response)) => break (Ok(response), broke_protocol),
                Err(e) => break (Err(e), broke_protocol),
            }
        };
        if self.line.capacity() > KEEP_LINE_CAPACITY {
            self.line = Vec::with_capacity(1024);
        }
        match result {
            Ok(response) => match response.error {
                Some(error) => Err(CallError::Rpc(error)),
                None => Ok(response.result),
            },
            Err(reason) => Err(self.died(reason, broke_protocol).await),
        }
    }

    fn parse_response(&self, id: u64) -> Result<Incoming, String> {
        let response: Response = serde_json::from_slice(&self.line)
            .map_err(|e| format!("the worker broke the protocol ({e})"))?;
        if response.id.is_none() && response.method.as_deref() == Some(method::PROGRESS) {
            let params = response.params.unwrap_or(Value::Null);
            let report: Progress = serde_json::from_value(params)
                .map_err(|e| format!("the worker sent a bad progress report ({e})"))?;
            return Ok(Incoming::Progress(Progress::new(
                report.fraction,
                report.message,
            )));
        }
        if response.id != Some(id) {
            return Err(format!(
                "the worker answered request {:?} while {id} was pending",
                response.id
            ));
        }
        Ok(Incoming::Response(response))
    }

    /// Reads one line into `self.line` (without the newline); `Ok(false)` at end of
    /// stream. A line over the limit is an error: a runaway worker cannot exhaust memory.
    async fn read_line(&mut self) -> Result<bool, String> {
        read_line(&mut self.stdout, &mut self.line, self.max_line_bytes).await
    }

    /// Describes the worker's death: the reason, its exit status and its stderr tail.
    /// A worker that broke the protocol (`kill_now`) is killed first; one that closed its
    /// output gets a moment to exit so its own exit status is reported.
    async fn died(&mut self, reason: String, kill_now: bool) -> CallError {
        if kill_now {
            self.kill();
        }
        let mut status = wait_exit(&mut self.exit, EXIT_GRACE).await;
        if status.is_none() {
            self.kill();
            status = wait_exit(&mut self.exit, EXIT_GRACE).await;
        }
        if let Some(task) = self.stderr_task.take() {
            let _ = tokio::time::timeout(STDERR_GRACE, task).await;
        }
        let mut message = reason;
        if let Some(status) = status {
            message.push_str(&format!(" ({status})"));
        }
        let tail = self.stderr.text();
        if !tail.trim().is_empty() {
            message.push_str("; stderr:\n");
            message.push_str(tail.trim_end());
        }
        tracing::warn!(plugin = %self.plugin, pid = self.pid, error = %message, "python worker died");
        CallError::Died(message)
    }

    /// Closes stdin so the worker leaves its loop, and waits up to `grace` for it to
    /// exit; dropping the worker afterwards kills it if it is still running.
    pub async fn close(&mut self, grace: Duration) {
        self.stdin = None;
        if wait_exit(&mut self.exit, grace).await.is_none() {
            tracing::warn!(plugin = %self.plugin, pid = self.pid, "python worker did not exit; killing it");
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill.cancel();
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
