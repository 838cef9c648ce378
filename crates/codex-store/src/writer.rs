//! Group commit: one writer task per store takes every waiting append, commits them in one
//! transaction, then answers each caller.
//!
//! A commit costs about one sync of the log whatever it holds, so under concurrency many
//! appends share that cost; a caller's future still resolves only after its own commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::event::{EventKind, EventRef, MessageFacts, NewEvent, Role};
use crate::store::CommitStats;
use crate::telemetry;

mod gather;
pub use gather::AppendIntent;
use gather::{Batching, Gather};

/// How often a batch is retried when the database aborts it for a transient reason
/// (a deadlock between servers, for instance).
const TRANSIENT_RETRIES: usize = 5;

/// What a backend does inside the writer task.
#[async_trait]
pub(crate) trait LogWriter: Send + 'static {
    /// Writes `events` in one transaction and answers where each landed, in input order.
    /// Implementations bump each session's counter with [`plan`] and number events with
    /// [`assign`].
    async fn commit(&mut self, events: &[NewEvent]) -> Result<Vec<EventRef>>;

    /// Appends `event` in a transaction of its own if its session exists; answers `None` and
    /// writes nothing if it does not.
    async fn append_existing(&mut self, event: &NewEvent) -> Result<Option<EventRef>>;

    /// Deletes a session and its events; answers how many events went.
    async fn delete_session(&mut self, session_id: &str) -> Result<u64>;

    /// Whether retrying the same transaction may succeed.
    fn is_transient(&self, error: &StoreError) -> bool;

    /// Closes the writer's connections.
    async fn close(&mut self);
}

/// How many characters of its first user message make a session's title.
pub(crate) const TITLE_CHARS: usize = 100;

/// How many events, and how many of them messages, one batch adds to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionBump {
    pub session_id: String,
    pub events: i64,
    pub messages: i64,
    /// The batch's first user message, cut to [`TITLE_CHARS`]: the session's title unless it
    /// has one already.
    pub title: Option<String>,
}

/// The per-session counter updates of a batch, sorted by session id so that concurrent writers
/// lock session rows in one order and cannot deadlock each other.
pub(crate) fn plan(events: &[NewEvent]) -> Vec<SessionBump> {
    let mut bumps: BTreeMap<&str, SessionBump> = BTreeMap::new();
    for event in events {
        let bump = bumps
            .entry(event.session_id.as_str())
            .or_insert_with(|| SessionBump {
                session_id: event.session_id.clone(),
                events: 0,
                messages: 0,
                title: None,
            });
        bump.events += 1;
        if event.kind == EventKind::Message {
            bump.messages += 1;
            if bump.title.is_none() {
                bump.title = MessageFacts::of(&event.payload)
                    .ok()
                    .filter(|message| message.role == Role::User)
                    .map(|message| message.content.chars().take(TITLE_CHARS).collect());
            }
        }
    }
    bumps.into_values().collect()
}

/// Numbers the events of a batch once each session's counter was bumped: a session whose
/// counter now reads `last` and that gained `n` events owns `last - n + 1 ..= last`.
/// `last_seqs[i]` belongs to `bumps[i]`.
pub(crate) fn assign(
    events: &[NewEvent],
    bumps: &[SessionBump],
    last_seqs: &[i64],
    timestamp: DateTime<Utc>,
) -> Result<Vec<EventRef>> {
    if bumps.len() != last_seqs.len() {
        return Err(StoreError::Corrupt(
            "a session counter update answered the wrong number of rows".to_owned(),
        ));
    }
    let mut next: BTreeMap<&str, i64> = bumps
        .iter()
        .zip(last_seqs)
        .map(|(bump, last)| (bump.session_id.as_str(), last - bump.events + 1))
        .collect();
    events
        .iter()
        .map(|event| {
            let seq = next.get_mut(event.session_id.as_str()).ok_or_else(|| {
                StoreError::Corrupt(format!("no counter for session {}", event.session_id))
            })?;
            let this = *seq;
            *seq += 1;
            Ok(EventRef {
                id: Uuid::now_v7(),
                session_id: event.session_id.clone(),
                seq: this,
                timestamp,
            })
        })
        .collect()
}

/// The commit timestamp, at the microsecond precision both databases keep, so what an append
/// answers equals what a read returns.
pub(crate) fn commit_timestamp() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

enum Command {
    Append {
        events: Vec<NewEvent>,
        reply: oneshot::Sender<Result<Vec<EventRef>>>,
    },
    AppendExisting {
        event: NewEvent,
        reply: oneshot::Sender<Result<Option<EventRef>>>,
    },
    Delete {
        session_id: String,
        reply: oneshot::Sender<Result<u64>>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    requests: AtomicU64,
    events: AtomicU64,
}

/// The callers' side of a writer task.
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    /// Appends announced and not yet made ([`AppendIntent`]).
    announced: Arc<AtomicUsize>,
}

impl WriterHandle {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn spawn<W: LogWriter>(writer: W, max_batch: usize, queue_capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let batching = Batching {
            max: max_batch.max(1),
            gather: None,
        };
        tokio::spawn(run(writer, rx, batching, Arc::clone(&counters)));
        Self {
            tx,
            counters,
            announced: Arc::default(),
        }
    }

    /// Starts the writer task on a thread of its own, in a single-threaded runtime, for a
    /// writer whose calls block (a synchronous database connection): its work then never
    /// holds up the caller's runtime, and a batch costs no hop to yet another thread.
    /// While at least `siblings` appends are announced, it waits up to `delay` for more
    /// before a commit ([`Gather`]); a zero delay commits at once.
    pub(crate) fn spawn_on_thread<W: LogWriter>(
        name: &str,
        writer: W,
        max_batch: usize,
        queue_capacity: usize,
        (delay, siblings): (Duration, usize),
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|err| StoreError::Io(format!("cannot start the writer's runtime: {err}")))?;
        let task_counters = Arc::clone(&counters);
        let announced = Arc::new(AtomicUsize::new(0));
        let batching = Batching {
            max: max_batch.max(1),
            gather: Gather::within(delay, siblings, &announced),
        };
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || runtime.block_on(run(writer, rx, batching, task_counters)))
            .map_err(|err| StoreError::Io(format!("cannot start the writer thread: {err}")))?;
        Ok(Self {
            tx,
            counters,
            announced,
        })
    }

    /// Announces an append to come (see [`Gather`]).
    pub(crate) fn announce(&self) -> AppendIntent {
        AppendIntent::new(&self.announced)
    }

    pub(crate) async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<EventRef>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        for event in &events {
            event.validate()?;
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Append { events, reply })
            .await
            .map_err(|_closed| StoreError::Closed)?;
        answer.await.map_err(|_dropped| StoreError::Closed)?
    }

    /// Appends `event` only if its session already exists, after every append queued before.
    pub(crate) async fn append_existing(&self, event: NewEvent) -> Result<Option<EventRef>> {
        event.validate()?;
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::AppendExisting { event, reply })
            .await
            .map_err(|_closed| StoreError::Closed)?;
        answer.await.map_err(|_dropped| StoreError::Closed)?
    }

    pub(crate) async fn delete_session(&self, session_id: &str) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        let session_id = session_id.to_owned();
        self.tx
            .send(Command::Delete { session_id, reply })
            .await
            .map_err(|_closed| StoreError::Closed)?;
        answer.await.map_err(|_dropped| StoreError::Closed)?
    }

    /// Waits until every write queued before this call is answered and the writer stopped.
    pub(crate) async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Command::Close { reply }).await.is_ok() {
            // An error only means the writer already stopped, which is what we wait for.
            let _stopped = answer.await;
        }
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
            events: self.counters.events.load(Ordering::Relaxed),
        }
    }
}

type AppendReply = oneshot::Sender<Result<Vec<EventRef>>>;

async fn run<W: LogWriter>(
    mut writer: W,
    mut rx: mpsc::Receiver<Command>,
    batching: Batching,
    counters: Arc<Counters>,
) {
    let max_batch = batching.max;
    let mut commands = Vec::with_capacity(max_batch);
    let mut pending: Vec<(Vec<NewEvent>, AppendReply)> = Vec::with_capacity(max_batch);
    // `recv_many` waits for one command, then takes whatever else is already queued: the
    // appends that arrived while the previous commit was syncing form the next batch.
    while rx.recv_many(&mut commands, max_batch).await > 0 {
        if let Some(gather) = &batching.gather {
            gather.more(&mut rx, &mut commands, max_batch);
        }
        telemetry::queue_depth(commands.len() + rx.len());
        for command in commands.drain(..) {
            match command {
                Command::Append { events, reply } => pending.push((events, reply)),
                Command::AppendExisting { event, reply } => {
                    flush(&mut writer, &mut pending, &counters).await;
                    let _ = reply.send(append_existing_retrying(&mut writer, &event).await);
                }
                Command::Delete { session_id, reply } => {
                    flush(&mut writer, &mut pending, &counters).await;
                    // A caller that gave up waiting is no reason to stop.
                    let _ = reply.send(writer.delete_session(&session_id).await);
                }
                Command::Close { reply } => {
                    flush(&mut writer, &mut pending, &counters).await;
                    rx.close();
                    // Appends queued behind the close are refused rather than left hanging.
                    while let Ok(command) = rx.try_recv() {
                        refuse(command);
                    }
                    writer.close().await;
                    let _ = reply.send(());
                    return;
                }
            }
        }
        flush(&mut writer, &mut pending, &counters).await;
    }
    writer.close().await;
}

fn refuse(command: Command) {
    match command {
        Command::Append { reply, .. } => {
            let _ = reply.send(Err(StoreError::Closed));
        }
        Command::AppendExisting { reply, .. } => {
            let _ = reply.send(Err(StoreError::Closed));
        }
        Command::Delete { reply, .. } => {
            let _ = reply.send(Err(StoreError::Closed));
        }
        Command::Close { reply } => {
            let _ = reply.send(());
        }
    }
}

/// Commits every pending append in one transaction and answers each caller.
async fn flush<W: LogWriter>(
    writer: &mut W,
    pending: &mut Vec<(Vec<NewEvent>, AppendReply)>,
    counters: &Counters,
) {
    if pending.is_empty() {
        return;
    }
    let mut lengths = Vec::with_capacity(pending.len());
    let mut replies = Vec::with_capacity(pending.len());
    let mut all = Vec::new();
    for (events, reply) in pending.drain(..) {
        lengths.push(events.len());
        all.extend(events);
        replies.push(reply);
    }
    let started = Instant::now();
    let committed = commit_retrying(writer, &all).await;
    telemetry::committed(all.len(), started.elapsed(), committed.is_ok());
    match committed {
        Ok(refs) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters
                .requests
                .fetch_add(replies.len() as u64, Ordering::Relaxed);
            counters
                .events
                .fetch_add(all.len() as u64, Ordering::Relaxed);
            let mut refs = refs.into_iter();
            for (reply, len) in replies.into_iter().zip(lengths) {
                let _ = reply.send(Ok(refs.by_ref().take(len).collect()));
            }
        }
        Err(error) if replies.len() == 1 => {
            let _ = replies
                .into_iter()
                .next()
                .map(|reply| reply.send(Err(error)));
        }
        Err(error) => {
            // One request may carry what the database refuses; commit each on its own so it
            // fails alone instead of failing everyone who shared its batch.
            tracing::warn!(%error, requests = replies.len(), "group commit failed; committing requests one by one");
            let mut start = 0;
            for (reply, len) in replies.into_iter().zip(lengths) {
                let events = &all[start..start + len];
                start += len;
                let started = Instant::now();
                let result = commit_retrying(writer, events).await;
                telemetry::committed(len, started.elapsed(), result.is_ok());
                if result.is_ok() {
                    counters.commits.fetch_add(1, Ordering::Relaxed);
                    counters.requests.fetch_add(1, Ordering::Relaxed);
                    counters.events.fetch_add(len as u64, Ordering::Relaxed);
                }
                let _ = reply.send(result);
            }
        }
    }
}

async fn commit_retrying<W: LogWriter>(
    writer: &mut W,
    events: &[NewEvent],
) -> Result<Vec<EventRef>> {
    let mut attempt = 0;
    loop {
        match writer.commit(events).await {
            Err(error) if attempt < TRANSIENT_RETRIES && writer.is_transient(&error) => {
                attempt += 1;
                tracing::debug!(%error, attempt, "transient write failure; retrying the batch");
            }
            result => return result,
        }
    }
}

async fn append_existing_retrying<W: LogWriter>(
    writer: &mut W,
    event: &NewEvent,
) -> Result<Option<EventRef>> {
    let mut attempt = 0;
    loop {
        match writer.append_existing(event).await {
            Err(error) if attempt < TRANSIENT_RETRIES && writer.is_transient(&error) => {
                attempt += 1;
                tracing::debug!(%error, attempt, "transient write failure; retrying");
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Role;

    fn events() -> Vec<NewEvent> {
        vec![
            NewEvent::message("b", Role::User, "1"),
            NewEvent::reset("a"),
            NewEvent::message("b", Role::Assistant, "2"),
            NewEvent::message("a", Role::User, "3"),
        ]
    }

    #[test]
    fn plan_counts_events_and_messages_per_session_in_id_order() {
        let bumps = plan(&events());
        assert_eq!(
            bumps,
            vec![
                SessionBump {
                    session_id: "a".into(),
                    events: 2,
                    messages: 1,
                    title: Some("3".into()),
                },
                SessionBump {
                    session_id: "b".into(),
                    events: 2,
                    messages: 2,
                    title: Some("1".into()),
                },
            ]
        );
    }

    #[test]
    fn assign_numbers_each_session_consecutively_in_input_order() {
        let events = events();
        let bumps = plan(&events);
        // Session a had 5 events before (now 7), session b none (now 2).
        let refs = assign(&events, &bumps, &[7, 2], commit_timestamp()).unwrap();
        let seqs: Vec<_> = refs
            .iter()
            .map(|r| (r.session_id.as_str(), r.seq))
            .collect();
        assert_eq!(seqs, vec![("b", 1), ("a", 6), ("b", 2), ("a", 7)]);
        assert!(assign(&events, &bumps, &[7], commit_timestamp()).is_err());
    }

    /// A writer in memory that fails any batch holding a poisoned event.
    struct Recording {
        next: BTreeMap<String, i64>,
    }

    #[async_trait]
    impl LogWriter for Recording {
        async fn commit(&mut self, events: &[NewEvent]) -> Result<Vec<EventRef>> {
            if events.iter().any(|e| e.payload["content"] == "poison") {
                return Err(StoreError::Corrupt("poison".into()));
            }
            let bumps = plan(events);
            let lasts: Vec<i64> = bumps
                .iter()
                .map(|b| {
                    let last = self.next.entry(b.session_id.clone()).or_default();
                    *last += b.events;
                    *last
                })
                .collect();
            assign(events, &bumps, &lasts, commit_timestamp())
        }

        async fn append_existing(&mut self, event: &NewEvent) -> Result<Option<EventRef>> {
            if !self.next.contains_key(&event.session_id) {
                return Ok(None);
            }
            Ok(self.commit(std::slice::from_ref(event)).await?.pop())
        }

        async fn delete_session(&mut self, session_id: &str) -> Result<u64> {
            Ok(self.next.remove(session_id).unwrap_or(0) as u64)
        }

        fn is_transient(&self, _error: &StoreError) -> bool {
            false
        }

        async fn close(&mut self) {}
    }

    #[tokio::test]
    async fn a_poisoned_request_fails_alone() {
        let writer = Recording {
            next: BTreeMap::new(),
        };
        let handle = Arc::new(WriterHandle::spawn(writer, 64, 64));
        let mut tasks = Vec::new();
        for i in 0..16 {
            let handle = Arc::clone(&handle);
            let content = if i == 7 {
                "poison".to_owned()
            } else {
                i.to_string()
            };
            tasks.push(tokio::spawn(async move {
                handle
                    .append(vec![NewEvent::message("s", Role::User, content)])
                    .await
            }));
        }
        let mut failed = 0;
        let mut seqs = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(refs) => seqs.extend(refs.into_iter().map(|r| r.seq)),
                Err(_) => failed += 1,
            }
        }
        seqs.sort_unstable();
        assert_eq!(failed, 1);
        assert_eq!(seqs, (1..=15).collect::<Vec<_>>());
        assert_eq!(handle.stats().requests, 15);
        handle.close().await;
        assert!(matches!(
            handle.append(vec![NewEvent::reset("s")]).await,
            Err(StoreError::Closed)
        ));
    }
}
