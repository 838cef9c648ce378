//! The calls in flight on one worker. Requests are written to its stdin in order, and the
//! worker runs them one at a time and answers in the same order, so a reader task that owns
//! its stdout matches each response to the oldest call not yet answered.
//!
//! More than one call may be in flight (pipelining): the next request waits in the pipe
//! while the worker runs the current one, so the worker goes from one call to the next
//! without sleeping until the host has read its answer. When the worker dies, the call it
//! was running gets the reason, and the calls queued behind it (which it never read) are
//! handed back unstarted for the pool to send elsewhere.
//!
//! A caller that stops waiting (its deadline, a cancellation) abandons its call. A running
//! call that is abandoned kills the worker at once, as a queued one does when it reaches the
//! front: an abandoned call never runs on unbounded.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use codex_plugin::{Progress, ProgressSink};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use super::protocol::{self, Response, method};
use super::worker::{Obituary, read_line};

/// A response buffer grown past this is released after the line.
const KEEP_LINE_CAPACITY: usize = 1 << 20;
/// Weight of the newest sample in a worker's average service time: 1/8.
const SERVICE_EWMA_SHIFT: u32 = 3;

/// How a call ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The worker answered (a result or an error) and stays usable.
    Answered(Response),
    /// The worker died while running this call; the reason, exit status and stderr tail.
    Died(String),
    /// The worker died before it read this call: it never ran, and may be sent again.
    NotStarted,
}

struct Pending {
    id: u64,
    /// `None` once the caller has stopped waiting.
    reply: Option<oneshot::Sender<Outcome>>,
    progress: Option<ProgressSink>,
}

struct Queue {
    /// Written and not yet answered, oldest (the running call) first.
    pending: VecDeque<Pending>,
    next_id: u64,
    /// When the front call became the front: where its service time starts.
    front_since: Instant,
    /// The worker is dead or stopping: nothing more is queued.
    closed: bool,
}

struct Stdin {
    /// `None` once closed for a graceful exit.
    pipe: Option<pipe::Sender>,
    out: Vec<u8>,
}

/// One worker's side of the protocol, shared by its callers and its reader task.
pub(crate) struct Calls {
    queue: Mutex<Queue>,
    stdin: tokio::sync::Mutex<Stdin>,
    /// Calls given to this worker and not ended: reserved, queued or running.
    load: AtomicUsize,
    /// Average time a call spends at the front of the queue, in nanoseconds; `u64::MAX`
    /// until a call has been answered.
    service_ns: AtomicU64,
    /// The reader has seen the worker's end.
    dead: AtomicBool,
    /// The host killed the worker to end an abandoned call: not a crash.
    stopped: AtomicBool,
    /// The host closed the worker's stdin for it to exit.
    retiring: AtomicBool,
    kill: CancellationToken,
    /// Signalled each time a call ends, so that a caller waiting for room looks again.
    freed: Arc<Notify>,
}

impl Calls {
    pub fn new(stdin: pipe::Sender, kill: CancellationToken, freed: Arc<Notify>) -> Arc<Calls> {
        Arc::new(Calls {
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                next_id: 1,
                front_since: Instant::now(),
                closed: false,
            }),
            stdin: tokio::sync::Mutex::new(Stdin {
                pipe: Some(stdin),
                out: Vec::with_capacity(1024),
            }),
            load: AtomicUsize::new(0),
            service_ns: AtomicU64::new(u64::MAX),
            dead: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            retiring: AtomicBool::new(false),
            kill,
            freed,
        })
    }

    pub fn load(&self) -> usize {
        self.load.load(Ordering::Acquire)
    }

    /// The average time a call of this worker runs, once one has been answered.
    pub fn service_time(&self) -> Option<Duration> {
        match self.service_ns.load(Ordering::Relaxed) {
            u64::MAX => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// Calls written and not yet answered.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queue.lock().pending.len()
    }

    /// Dead, or killed and about to be: no call should be given to it.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire) || self.kill.is_cancelled()
    }

    /// The host killed it to end an abandoned call (its end is not a crash).
    pub fn was_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Counts one more call for this worker until it ends; see [`Reservation::send`].
    pub fn reserve(self: &Arc<Self>) -> Reservation {
        self.load.fetch_add(1, Ordering::AcqRel);
        Reservation {
            calls: self.clone(),
            sent: false,
        }
    }

    /// Closes stdin so the worker leaves its loop once the calls written are done.
    pub async fn close_stdin(&self) {
        self.retiring.store(true, Ordering::Release);
        self.stdin.lock().await.pipe = None;
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.kill.cancel();
        // A caller waiting for room looks again, and has the worker replaced.
        self.freed.notify_one();
    }

    /// The caller of `id` stopped waiting: the worker is killed if it runs the call,
    /// else the call is marked so that it is killed when it reaches the front.
    fn abandon(&self, id: u64) {
        let mut queue = self.queue.lock();
        let Some(index) = queue.pending.iter().position(|p| p.id == id) else {
            return; // Answered meanwhile, or the worker is gone.
        };
        if index == 0 {
            drop(queue);
            self.stop();
            return;
        }
        let pending = &mut queue.pending[index];
        pending.reply = None;
        pending.progress = None;
    }

    /// One call ended: room for another.
    fn release(&self) {
        self.load.fetch_sub(1, Ordering::AcqRel);
        self.freed.notify_one();
    }
}

/// Room taken on a worker for one call. Dropped unsent, it gives the room back.
pub(crate) struct Reservation {
    calls: Arc<Calls>,
    sent: bool,
}

/// Why a request was not sent.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The parameters could not be encoded (a host bug).
    Encode(String),
    /// The worker is dead or shutting down; the call never reached it.
    Closed,
}

impl Reservation {
    /// Writes the request. Its outcome arrives through the returned [`Call`]; progress
    /// reports sent while it runs go to `progress`.
    pub async fn send<P: Serialize>(
        mut self,
        method: &str,
        params: P,
        progress: Option<ProgressSink>,
    ) -> Result<Call, SendError> {
        let calls = self.calls.clone();
        let mut stdin = calls.stdin.lock().await;
        let stdin = &mut *stdin;
        let Some(pipe) = stdin.pipe.as_mut() else {
            return Err(SendError::Closed);
        };
        // Queued under the stdin lock, so the queue's order is the order of the writes.
        let (reply_tx, reply) = oneshot::channel();
        let id = {
            let mut queue = calls.queue.lock();
            if queue.closed {
                return Err(SendError::Closed);
            }
            let id = queue.next_id;
            queue.next_id += 1;
            if queue.pending.is_empty() {
                queue.front_since = Instant::now();
            }
            queue.pending.push_back(Pending {
                id,
                reply: Some(reply_tx),
                progress,
            });
            id
        };
        stdin.out.clear();
        if let Err(e) = protocol::encode_request(&mut stdin.out, id, method, params) {
            calls.queue.lock().pending.pop_back();
            return Err(SendError::Encode(format!("cannot encode the request: {e}")));
        }
        // From here the reader ends the call and gives the room back.
        self.sent = true;
        // Dropped mid-write, the stream would be cut inside a request: the worker goes.
        let mut torn = TornWrite(Some(&calls));
        if pipe.write_all(&stdin.out).await.is_err() {
            // The worker stopped reading: it is dead or dying, and the reader reports it.
            calls.kill.cancel();
        }
        torn.0 = None;
        Ok(Call {
            calls: calls.clone(),
            id,
            reply,
            ended: false,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.sent {
            self.calls.release();
        }
    }
}

struct TornWrite<'a>(Option<&'a Arc<Calls>>);

impl Drop for TornWrite<'_> {
    fn drop(&mut self) {
        if let Some(calls) = self.0 {
            calls.stop();
        }
    }
}

/// A call written to a worker. Dropped before its outcome, it is abandoned.
pub(crate) struct Call {
    calls: Arc<Calls>,
    id: u64,
    reply: oneshot::Receiver<Outcome>,
    ended: bool,
}

impl Call {
    /// Waits for the outcome; dropped while waiting, the call is abandoned.
    pub async fn outcome(&mut self) -> Outcome {
        // The reader answers every call it took, even when the worker dies; a closed
        // channel means it was dropped with the runtime.
        let outcome = (&mut self.reply)
            .await
            .unwrap_or_else(|_| Outcome::Died("the worker's reader stopped".to_owned()));
        self.ended = true;
        outcome
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.ended {
            self.calls.abandon(self.id);
        }
    }
}

/// One line read from the worker.
enum Incoming {
    Progress(Progress),
    Response(Response),
}

/// Reads the worker's stdout until it ends: responses go to their calls in order, progress
/// reports to the running call. Then every call left gets an outcome.
pub(crate) async fn read_responses(
    calls: Arc<Calls>,
    mut stdout: BufReader<pipe::Receiver>,
    max_line_bytes: usize,
    obituary: Obituary,
) {
    let mut line = Vec::with_capacity(1024);
    let reason = loop {
        match read_line(&mut stdout, &mut line, max_line_bytes).await {
            Ok(true) => {}
            Ok(false) => break "the worker exited".to_owned(),
            Err(e) => {
                calls.kill.cancel();
                break e;
            }
        }
        let delivered = match parse(&line) {
            Ok(Incoming::Progress(report)) => {
                let sink = calls
                    .queue
                    .lock()
                    .pending
                    .front()
                    .and_then(|p| p.progress.clone());
                if let Some(sink) = sink {
                    sink(report);
                }
                Ok(())
            }
            Ok(Incoming::Response(response)) => deliver(&calls, response),
            Err(e) => Err(e),
        };
        if let Err(e) = delivered {
            calls.kill.cancel();
            break e;
        }
        if line.capacity() > KEEP_LINE_CAPACITY {
            line = Vec::with_capacity(1024);
        }
    };
    calls.dead.store(true, Ordering::Release);
    let left: Vec<Pending> = {
        let mut queue = calls.queue.lock();
        queue.closed = true;
        queue.pending.drain(..).collect()
    };
    // The stdin lock is taken after `closed`: no request is written from now on.
    calls.stdin.lock().await.pipe = None;
    // An idle worker the host let go or killed ended as asked.
    let expected =
        left.is_empty() && (calls.retiring.load(Ordering::Acquire) || calls.kill.is_cancelled());
    let message = obituary.write(reason, &calls.kill, expected).await;
    let mut left = left.into_iter();
    if let Some(running) = left.next() {
        if let Some(reply) = running.reply {
            let _ = reply.send(Outcome::Died(message));
        }
        calls.release();
    }
    for queued in left {
        if let Some(reply) = queued.reply {
            let _ = reply.send(Outcome::NotStarted);
        }
        calls.release();
    }
    calls.freed.notify_waiters();
}

/// Hands a response to the oldest call; kills the worker if the next call was abandoned.
fn deliver(calls: &Calls, response: Response) -> Result<(), String> {
    let now = Instant::now();
    let (answered, abandoned_next) = {
        let mut queue = calls.queue.lock();
        let expected = queue.pending.front().map(|p| p.id);
        if response.id.is_none() || response.id != expected {
            return Err(match expected {
                Some(id) => format!(
                    "the worker answered request {:?} while {id} was pending",
                    response.id
                ),
                None => format!(
                    "the worker answered request {:?} while none was pending",
                    response.id
                ),
            });
        }
        let service = now.saturating_duration_since(queue.front_since);
        queue.front_since = now;
        let answered = queue.pending.pop_front();
        let abandoned_next = queue.pending.front().is_some_and(|p| p.reply.is_none());
        (answered.map(|a| (a, service)), abandoned_next)
    };
    if abandoned_next {
        calls.stop();
    }
    if let Some((answered, service)) = answered {
        note_service(calls, service);
        if let Some(reply) = answered.reply {
            let _ = reply.send(Outcome::Answered(response));
        }
        calls.release();
    }
    Ok(())
}

fn note_service(calls: &Calls, sample: Duration) {
    let sample = u64::try_from(sample.as_nanos()).unwrap_or(u64::MAX - 1);
    let average = match calls.service_ns.load(Ordering::Relaxed) {
        u64::MAX => sample,
        old => {
            let old = i128::from(old);
            let moved = old + ((i128::from(sample) - old) >> SERVICE_EWMA_SHIFT);
            u64::try_from(moved).unwrap_or(u64::MAX - 1)
        }
    };
    calls.service_ns.store(average, Ordering::Relaxed);
}

fn parse(line: &[u8]) -> Result<Incoming, String> {
    let response: Response =
        serde_json::from_slice(line).map_err(|e| format!("the worker broke the protocol ({e})"))?;
    if response.id.is_none() && response.method.as_deref() == Some(method::PROGRESS) {
        let params = response.params.unwrap_or(Value::Null);
        let report: Progress = serde_json::from_value(params)
            .map_err(|e| format!("the worker sent a bad progress report ({e})"))?;
        return Ok(Incoming::Progress(Progress::new(
            report.fraction,
            report.message,
        )));
    }
    Ok(Incoming::Response(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_service_time_follows_the_samples() {
        let (_reader, writer) = std::io::pipe().unwrap();
        let sender = pipe::Sender::from_owned_fd(writer.into()).unwrap();
        let calls = Calls::new(sender, CancellationToken::new(), Arc::new(Notify::new()));
        assert_eq!(calls.service_time(), None);
        note_service(&calls, Duration::from_micros(800));
        assert_eq!(calls.service_time(), Some(Duration::from_micros(800)));
        for _ in 0..64 {
            note_service(&calls, Duration::from_micros(40));
        }
        let settled = calls.service_time().unwrap();
        assert!(settled < Duration::from_micros(41), "{settled:?}");
    }
}
