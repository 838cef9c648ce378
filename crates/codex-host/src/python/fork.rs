//! Python fork servers: one process per interpreter that has imported the worker runtime
//! once and forks a worker for each plugin (and each pool slot) on request, so workers
//! share the interpreter's pages copy-on-write instead of each paying for a whole one.
//!
//! The host talks to a server over a `SOCK_SEQPACKET` socket pair (the server's fd 0),
//! one JSON object per datagram (the protocol is described in `codex_forkserver.py`):
//! a fork request carries the worker's stdin, stdout and stderr as `SCM_RIGHTS`; the reply
//! carries the worker's pidfd. The host kills a worker through its pidfd and learns its
//! exit status from the server's `exited` message; once the server is gone, the pidfd
//! alone says when the worker ended.
//!
//! A server that dies is noticed (its socket closes) and the next fork starts a new one;
//! workers it forked keep running until they are replaced. A server that cannot start
//! (an interpreter without `os.pidfd_open`, say) is not tried again for that interpreter:
//! its workers are spawned as plain processes.

use std::collections::{HashMap, HashSet};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use serde::Deserialize;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::process::Command;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::worker::{ChildEnds, StderrTail, WorkerSpec, drain_stderr, worker_env};

/// The longest message either side sends (a fork request names a file path).
const MAX_MESSAGE: usize = 64 * 1024;

/// The fork servers of one runtime, by interpreter.
pub(crate) struct ForkServers {
    servers: tokio::sync::Mutex<HashMap<PathBuf, Arc<ForkServer>>>,
    /// Interpreters whose server could not start: their workers are spawned.
    unavailable: Mutex<HashSet<PathBuf>>,
    start_timeout: Duration,
    /// Cancelled when the runtime shuts down: every server is killed.
    kill: CancellationToken,
}

/// A worker forked by a server.
pub(crate) struct Forked {
    pub pid: u32,
    /// Readable once the worker has ended; kills it without any risk of a reused pid.
    pub pidfd: AsyncFd<OwnedFd>,
    /// The raw wait status, from the server; closed if the server went away first.
    pub status: oneshot::Receiver<i32>,
}

impl std::fmt::Debug for ForkServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkServers")
            .field("unavailable", &*self.unavailable.lock())
            .finish_non_exhaustive()
    }
}

impl ForkServers {
    pub fn new(start_timeout: Duration, kill: CancellationToken) -> ForkServers {
        ForkServers {
            servers: tokio::sync::Mutex::new(HashMap::new()),
            unavailable: Mutex::new(HashSet::new()),
            start_timeout,
            kill,
        }
    }

    /// Forks a worker for `spec` on the given standard streams, starting the
    /// interpreter's server first when it has none (or its last one died). `None` means
    /// the worker must be spawned instead; the reason has been logged.
    pub async fn fork(&self, spec: &WorkerSpec, ends: &ChildEnds) -> Option<Forked> {
        // A server found dead at the first attempt is replaced once.
        for _ in 0..2 {
            let server = self.server_for(spec).await?;
            match server.fork(spec, ends).await {
                Ok(forked) => return Some(forked),
                Err(ForkError::Gone) => {
                    tracing::warn!(interpreter = %spec.interpreter.display(), pid = server.pid, "the python fork server stopped; starting a new one");
                    let mut servers = self.servers.lock().await;
                    if servers
                        .get(&spec.interpreter)
                        .is_some_and(|current| Arc::ptr_eq(current, &server))
                    {
                        servers.remove(&spec.interpreter);
                    }
                }
                Err(ForkError::Refused(reason)) => {
                    tracing::warn!(plugin = %spec.plugin, error = %reason, "the python fork server could not fork a worker; spawning one");
                    return None;
                }
            }
        }
        None
    }

    /// The live server of the spec's interpreter, started if needed.
    async fn server_for(&self, spec: &WorkerSpec) -> Option<Arc<ForkServer>> {
        if self.unavailable.lock().contains(&spec.interpreter) {
            return None;
        }
        let mut servers = self.servers.lock().await;
        if let Some(server) = servers.get(&spec.interpreter)
            && !server.gone.is_cancelled()
        {
            return Some(server.clone());
        }
        match ForkServer::start(spec, self.start_timeout, self.kill.child_token()).await {
            Ok(server) => {
                tracing::info!(interpreter = %spec.interpreter.display(), pid = server.pid, "python fork server started");
                servers.insert(spec.interpreter.clone(), server.clone());
                Some(server)
            }
            Err(reason) => {
                tracing::warn!(interpreter = %spec.interpreter.display(), error = %reason, "the python fork server did not start; workers of this interpreter are spawned one by one");
                servers.remove(&spec.interpreter);
                self.unavailable.lock().insert(spec.interpreter.clone());
                None
            }
        }
    }

    /// The pid of the interpreter's running server, if it has one.
    pub async fn server_pid(&self, interpreter: &Path) -> Option<u32> {
        let servers = self.servers.lock().await;
        servers
            .get(interpreter)
            .filter(|server| !server.gone.is_cancelled())
            .map(|server| server.pid)
    }
}

enum ForkError {
    /// The server is gone (killed, crashed); another may do.
    Gone,
    /// The server answered but could not fork.
    Refused(String),
}

/// One running fork server.
struct ForkServer {
    pid: u32,
    sock: AsyncFd<OwnedFd>,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Forked, String>>>>,
    /// Where each live worker's exit status goes.
    exits: Mutex<HashMap<u32, oneshot::Sender<i32>>>,
    /// Cancelled once the server has exited or its socket has closed.
    gone: CancellationToken,
    /// Kills the server.
    kill: CancellationToken,
}

/// A message from the server.
#[derive(Debug, Deserialize)]
struct Message {
    id: Option<u64>,
    pid: Option<u32>,
    error: Option<String>,
    ready: Option<bool>,
    exited: Option<u32>,
    status: Option<i32>,
}

impl ForkServer {
    /// Starts the interpreter on the fork server script and waits for its `ready`.
    async fn start(
        spec: &WorkerSpec,
        timeout: Duration,
        kill: CancellationToken,
    ) -> Result<Arc<ForkServer>, String> {
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| format!("cannot make a socket pair: {e}"))?;
        rustix::io::ioctl_fionbio(&ours, true)
            .map_err(|e| format!("cannot make the socket non-blocking: {e}"))?;
        let sock = watch(ours).map_err(|e| format!("cannot watch the socket: {e}"))?;
        let mut command = Command::new(&spec.interpreter);
        command.arg(spec.shim.fork_server_script());
        worker_env(&mut command, spec);
        command
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, like every worker: a Ctrl-C is the host's to handle.
            .process_group(0);
        let mut child = command.spawn().map_err(|e| {
            format!(
                "cannot start the Python interpreter '{}': {e}",
                spec.interpreter.display()
            )
        })?;
        // The server's end is its own now: closed here, its exit closes the socket.
        drop(command);
        let pid = child.id().unwrap_or_default();
        let tail = Arc::new(StderrTail::new(spec.stderr_tail_bytes));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(drain_stderr(
                stderr,
                tail.clone(),
                Arc::from("(python fork server)"),
                Some(pid),
            ));
        }
        let server = Arc::new(ForkServer {
            pid,
            sock,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
            gone: CancellationToken::new(),
            kill: kill.clone(),
        });
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(server.clone().read_messages(ready_tx));
        let gone = server.gone.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = child.wait() => {}
                () = kill.cancelled() => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
            }
            // A server that exited without closing its socket is gone all the same.
            gone.cancel();
        });
        match tokio::time::timeout(timeout, ready_rx).await {
            Ok(Ok(())) => Ok(server),
            Ok(Err(_)) => {
                // Let the last of its stderr arrive before reporting it.
                let _ =
                    tokio::time::timeout(Duration::from_millis(500), server.gone.cancelled()).await;
                Err(format!(
                    "it exited before it was ready; stderr: {}",
                    tail.text().trim_end()
                ))
            }
            Err(_) => {
                server.kill.cancel();
                Err(format!(
                    "it was not ready within {} ms",
                    timeout.as_millis()
                ))
            }
        }
    }

    /// Asks for one worker on `ends` and waits for its pid.
    async fn fork(&self, spec: &WorkerSpec, ends: &ChildEnds) -> Result<Forked, ForkError> {
        if self.gone.is_cancelled() {
            return Err(ForkError::Gone);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = serde_json::json!({
            "id": id,
            "plugin": spec.plugin_path,
            "class": spec.class_name,
        });
        let data = request.to_string();
        let (reply_tx, reply_rx) = oneshot::channel();
        self.pending.lock().insert(id, reply_tx);
        let fds = [ends.stdin.as_fd(), ends.stdout.as_fd(), ends.stderr.as_fd()];
        let sent = self
            .sock
            .async_io(Interest::WRITABLE, |sock| {
                send_with_fds(sock, data.as_bytes(), &fds)
            })
            .await;
        if sent.is_err() {
            self.pending.lock().remove(&id);
            return Err(ForkError::Gone);
        }
        tokio::select! {
            reply = reply_rx => match reply {
                Ok(Ok(forked)) => Ok(forked),
                Ok(Err(reason)) => Err(ForkError::Refused(reason)),
                Err(_) => Err(ForkError::Gone),
            },
            () = self.gone.cancelled() => {
                self.pending.lock().remove(&id);
                Err(ForkError::Gone)
            }
        }
    }

    /// Reads the server's messages until its socket closes, then forgets every pending
    /// request and exit (their receivers see the server gone).
    async fn read_messages(self: Arc<Self>, ready: oneshot::Sender<()>) {
        let mut ready = Some(ready);
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let received = self
                .sock
                .async_io(Interest::READABLE, |sock| receive_with_fds(sock, &mut buf))
                .await;
            let (len, mut fds) = match received {
                Ok((0, _)) => break,
                Ok(received) => received,
                Err(e) => {
                    tracing::warn!(pid = self.pid, error = %e, "cannot read from the python fork server");
                    break;
                }
            };
            let message: Message = match serde_json::from_slice(&buf[..len]) {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(pid = self.pid, error = %e, "the python fork server sent a bad message");
                    continue;
                }
            };
            if message.ready == Some(true) {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                continue;
            }
            if let (Some(pid), Some(status)) = (message.exited, message.status) {
                if let Some(exit) = self.exits.lock().remove(&pid) {
                    let _ = exit.send(status);
                }
                continue;
            }
            let Some(reply) = message.id.and_then(|id| self.pending.lock().remove(&id)) else {
                continue;
            };
            let result = match (message.pid, fds.pop(), message.error) {
                (Some(pid), Some(pidfd), None) => match watch(pidfd) {
                    Ok(pidfd) => {
                        // Registered before any later message is read: the worker's exit
                        // cannot be reported before it is waited for.
                        let (status_tx, status) = oneshot::channel();
                        self.exits.lock().insert(pid, status_tx);
                        Ok(Forked { pid, pidfd, status })
                    }
                    Err(e) => Err(format!("cannot watch the worker's pidfd: {e}")),
                },
                (_, _, Some(error)) => Err(error),
                _ => Err("the fork server's reply had no pid".to_owned()),
            };
            let _ = reply.send(result);
        }
        self.gone.cancel();
        self.pending.lock().clear();
        self.exits.lock().clear();
    }
}

/// Watches an owned descriptor with the reactor. `AsyncFd::new` is deprecated because a
/// generic `T` may report a descriptor it then closes or swaps; an `OwnedFd` does neither
/// while the `AsyncFd` owns it, which is the contract `AsyncFd::register` states (and that
/// one is `unsafe`, which this workspace forbids).
#[allow(deprecated)]
fn watch(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    AsyncFd::new(fd)
}

/// Sends one datagram with `fds` attached.
fn send_with_fds(sock: &OwnedFd, data: &[u8], fds: &[BorrowedFd<'_>]) -> std::io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(std::io::Error::other(
            "too many descriptors for one message",
        ));
    }
    rustix::net::sendmsg(
        sock,
        &[IoSlice::new(data)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// Receives one datagram and the descriptors attached to it (close-on-exec).
fn receive_with_fds(sock: &OwnedFd, buf: &mut [u8]) -> std::io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        sock,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    Ok((received.bytes, fds))
}

/// Owns a forked worker: waits for its end, or kills it when `kill` is cancelled; the
/// exit status comes from its server, or is unknown once the server has gone.
pub(crate) async fn reap(forked: Forked, kill: CancellationToken) -> String {
    let Forked {
        pid,
        pidfd,
        mut status,
    } = forked;
    let mut killed = false;
    let mut server_gone = false;
    loop {
        tokio::select! {
            raw = &mut status, if !server_gone => match raw {
                Ok(raw) => return ExitStatus::from_raw(raw).to_string(),
                Err(_) => server_gone = true,
            },
            // Without its server, the pidfd says when the worker ended (it is then
            // reaped by whoever adopted it).
            _ = pidfd.readable(), if server_gone => {
                return "exit status unknown: its fork server had stopped".to_owned();
            }
            () = kill.cancelled(), if !killed => {
                killed = true;
                if let Err(e) = rustix::process::pidfd_send_signal(pidfd.get_ref(), rustix::process::Signal::KILL)
                    && e != rustix::io::Errno::SRCH
                {
                    tracing::warn!(pid, error = %e, "cannot kill the python worker");
                }
            }
        }
    }
}
