//! Cancels and approval answers that reach the server running the work, whichever server
//! on the same database they were sent to.
//!
//! A run or a waiting approval lives in the memory of the one server that started it. When
//! a cancel or an answer names an id this server does not have, it asks the others over the
//! store's bus (PostgreSQL `LISTEN/NOTIFY`; on SQLite, the polled table) on
//! [`CONTROL_CHANNEL`]: every other server replies whether it found the id, and the one that
//! has it acts at once. The asking server answers its client as soon as one server acted, or
//! once every server it knows of said no, or at [`REPLY_TIMEOUT`].
//!
//! Servers know of each other by heartbeats on the same channel: each says `alive` every
//! [`HEARTBEAT`], and at once when it hears a server it did not know, so a server that just
//! started is known within one round trip. A server silent for [`PEER_TTL`] is forgotten.
//! With no other server, an unknown id answers at once.
//!
//! The checks of the key stay where the work runs: a user key's cancel reaches only a run in
//! a session it owns, and its answer only its own turn's question, exactly as locally.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_agent::{Answer, ApprovalInfo, Approvals, RunInfo, RunKind, Running};
use codex_store::{EventStore, StoreError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::access::SessionOwners;

/// The bus channel of requests, replies and heartbeats between servers.
pub const CONTROL_CHANNEL: &str = "codex_control";

/// How often a server says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// A server not heard for this long is taken to be gone.
const PEER_TTL: Duration = Duration::from_secs(15);

/// The longest a request waits for the other servers' replies; SQLite's bus polls every
/// 200 ms, PostgreSQL's answers in milliseconds.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// What one server tells the others.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Message {
    Alive {
        server: Uuid,
    },
    Cancel {
        server: Uuid,
        request: Uuid,
        kind: RunKind,
        id: Uuid,
        by: String,
        /// A user key's name: only a run in a session it owns is reached.
        owner: Option<String>,
    },
    Answer {
        server: Uuid,
        request: Uuid,
        id: Uuid,
        answer: Answer,
        /// A user key's name: only its own turn's question is answered.
        owner: Option<String>,
    },
    Reply {
        server: Uuid,
        to: Uuid,
        request: Uuid,
        /// What was reached (a [`RunInfo`] or an [`ApprovalInfo`]); `None` for "not here".
        found: Option<Value>,
    },
}

/// Replies to one request, as they come.
type ReplyTx = mpsc::UnboundedSender<(Uuid, Option<Value>)>;

/// This server's end of the exchange. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

struct Inner {
    server: Uuid,
    store: Arc<dyn EventStore>,
    running: Running,
    approvals: Approvals,
    owners: Arc<SessionOwners>,
    /// The other servers, by when they were last heard.
    peers: Mutex<HashMap<Uuid, Instant>>,
    /// Requests of this server waiting for replies, by request id.
    waiting: Mutex<HashMap<Uuid, ReplyTx>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("server", &self.inner.server)
            .field("peers", &self.inner.peers.lock().len())
            .finish()
    }
}

impl Control {
    /// Subscribes, says this server is alive, and serves the other servers' requests until
    /// `stop` is cancelled or the store closes.
    pub async fn start(
        store: Arc<dyn EventStore>,
        running: Running,
        approvals: Approvals,
        owners: Arc<SessionOwners>,
        stop: CancellationToken,
    ) -> Result<Self, StoreError> {
        let control = Control {
            inner: Arc::new(Inner {
                server: Uuid::now_v7(),
                store,
                running,
                approvals,
                owners,
                peers: Mutex::new(HashMap::new()),
                waiting: Mutex::new(HashMap::new()),
            }),
        };
        let subscription = control.inner.store.subscribe(&[CONTROL_CHANNEL]).await?;
        control.inner.alive().await;
        let inner = Arc::downgrade(&control.inner);
        tokio::spawn(async move {
            let mut subscription = subscription;
            // The first heartbeat was just sent; the next is due one period later.
            let mut heartbeat =
                tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
            heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let notification = tokio::select! {
                    () = stop.cancelled() => return,
                    _ = heartbeat.tick() => {
                        let Some(inner) = inner.upgrade() else { return };
                        inner.alive().await;
                        inner.forget_silent_peers();
                        continue;
                    }
                    notification = subscription.recv() => notification,
                };
                let Some(notification) = notification else {
                    return;
                };
                let Some(inner) = inner.upgrade() else { return };
                if notification.resync {
                    // Lost messages were requests or replies already timed out, or
                    // heartbeats that come again; say this server is here.
                    inner.alive().await;
                    continue;
                }
                match serde_json::from_str::<Message>(&notification.payload) {
                    // Requests are served in tasks of their own: a slow store lookup for
                    // one does not hold up the replies to another.
                    Ok(message) => {
                        tokio::spawn(async move { inner.receive(message).await });
                    }
                    Err(err) => tracing::warn!(error = %err, "unreadable control message"),
                }
            }
        });
        Ok(control)
    }

    /// This server's id on the bus.
    pub fn server(&self) -> Uuid {
        self.inner.server
    }

    /// How many other servers this one knows of now.
    pub fn peers(&self) -> usize {
        self.inner.peers.lock().len()
    }

    /// Cancels the run of `kind` under `id` on whichever other server runs it; `None` when
    /// none does (or, for `owner`, none in a session that key owns).
    pub async fn cancel_elsewhere(
        &self,
        kind: RunKind,
        id: Uuid,
        by: &str,
        owner: Option<&str>,
    ) -> Result<Option<RunInfo>, StoreError> {
        let server = self.inner.server;
        let found = self
            .inner
            .ask(|request| Message::Cancel {
                server,
                request,
                kind,
                id,
                by: by.to_owned(),
                owner: owner.map(str::to_owned),
            })
            .await?;
        Ok(found.and_then(|value| serde_json::from_value(value).ok()))
    }

    /// Answers the approval `id` on whichever other server waits for it; `None` when none
    /// does (or, for `owner`, none of that key's turns).
    pub async fn answer_elsewhere(
        &self,
        id: Uuid,
        answer: Answer,
        owner: Option<&str>,
    ) -> Result<Option<ApprovalInfo>, StoreError> {
        let server = self.inner.server;
        let found = self
            .inner
            .ask(|request| Message::Answer {
                server,
                request,
                id,
                answer,
                owner: owner.map(str::to_owned),
            })
            .await?;
        Ok(found.and_then(|value| serde_json::from_value(value).ok()))
    }
}

impl Inner {
    async fn send(&self, message: &Message) -> Result<(), StoreError> {
        let payload = serde_json::to_string(message)
            .map_err(|err| StoreError::InvalidQuery(format!("control message: {err}")))?;
        self.store.notify(CONTROL_CHANNEL, &payload).await
    }

    async fn alive(&self) {
        if let Err(err) = self
            .send(&Message::Alive {
                server: self.server,
            })
            .await
        {
            // A store closed under the heartbeat is this process stopping (a short
            // `codexcontinue run`, for one), not a fault.
            if err.is_closed() {
                tracing::debug!(error = %err, "the store closed before a control heartbeat");
            } else {
                tracing::warn!(error = %err, "cannot announce this server on the control channel");
            }
        }
    }

    fn forget_silent_peers(&self) {
        self.peers
            .lock()
            .retain(|_, heard| heard.elapsed() < PEER_TTL);
    }

    /// Notes `server` as alive; true when it was not known before.
    fn heard(&self, server: Uuid) -> bool {
        self.peers.lock().insert(server, Instant::now()).is_none()
    }

    /// Sends the request built around a fresh request id, and waits for the first server
    /// that found what it names, for every known server to say no, or for the timeout.
    async fn ask(
        &self,
        request: impl FnOnce(Uuid) -> Message,
    ) -> Result<Option<Value>, StoreError> {
        self.forget_silent_peers();
        let mut expected: HashSet<Uuid> = self.peers.lock().keys().copied().collect();
        if expected.is_empty() {
            return Ok(None);
        }
        let id = Uuid::now_v7();
        let (tx, mut replies) = mpsc::unbounded_channel();
        self.waiting.lock().insert(id, tx);
        let _waiting = Waiting { inner: self, id };
        self.send(&request(id)).await?;
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        while !expected.is_empty() {
            let Ok(Some((from, found))) = tokio::time::timeout_at(deadline, replies.recv()).await
            else {
                break;
            };
            if found.is_some() {
                return Ok(found);
            }
            expected.remove(&from);
        }
        Ok(None)
    }

    async fn receive(&self, message: Message) {
        match message {
            Message::Alive { server } => {
                if server != self.server && self.heard(server) {
                    // A server new to this one may not know this one either.
                    self.alive().await;
                }
            }
            Message::Reply {
                server,
                to,
                request,
                found,
            } => {
                if to != self.server {
                    return;
                }
                self.heard(server);
                if let Some(tx) = self.waiting.lock().get(&request) {
                    let _ = tx.send((server, found));
                }
            }
            Message::Cancel {
                server,
                request,
                kind,
                id,
                by,
                owner,
            } => {
                if server == self.server {
                    return;
                }
                self.heard(server);
                let found = self.cancel_here(kind, id, &by, owner.as_deref()).await;
                self.reply(server, request, found.and_then(|run| to_value(&run)))
                    .await;
            }
            Message::Answer {
                server,
                request,
                id,
                answer,
                owner,
            } => {
                if server == self.server {
                    return;
                }
                self.heard(server);
                let found = self
                    .answer_here(id, answer, owner.as_deref())
                    .map(relayable);
                self.reply(server, request, found.and_then(|info| to_value(&info)))
                    .await;
            }
        }
    }

    async fn reply(&self, to: Uuid, request: Uuid, found: Option<Value>) {
        let reply = Message::Reply {
            server: self.server,
            to,
            request,
            found,
        };
        if let Err(err) = self.send(&reply).await {
            tracing::warn!(error = %err, "cannot reply on the control channel");
        }
    }

    async fn cancel_here(
        &self,
        kind: RunKind,
        id: Uuid,
        by: &str,
        owner: Option<&str>,
    ) -> Option<RunInfo> {
        if let Some(owner) = owner {
            let run = self
                .running
                .list()
                .into_iter()
                .find(|run| run.id == id && run.kind == kind)?;
            let session_owner = self.owners.owner(&run.session_id).await.ok()??;
            if &*session_owner != owner {
                return None;
            }
        }
        self.running.cancel(kind, id, by).ok()
    }

    fn answer_here(&self, id: Uuid, answer: Answer, owner: Option<&str>) -> Option<ApprovalInfo> {
        let pending = self.approvals.get(id)?;
        if owner.is_some() && pending.actor.as_deref() != owner {
            return None;
        }
        self.approvals.answer(id, answer).ok()
    }
}

/// The longest arguments relayed with an answered approval; a notification holds under
/// 8000 bytes, so larger ones are left out of the reply (the answer itself went through).
const MAX_RELAYED_ARGUMENTS: usize = 4096;

fn relayable(mut info: ApprovalInfo) -> ApprovalInfo {
    if info.arguments.to_string().len() > MAX_RELAYED_ARGUMENTS {
        info.arguments = Value::Null;
    }
    info
}

fn to_value<T: Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

/// Removes a request's reply slot however its wait ends.
struct Waiting<'a> {
    inner: &'a Inner,
    id: Uuid,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.inner.waiting.lock().remove(&self.id);
    }
}
