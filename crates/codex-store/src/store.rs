//! The one contract both backends implement, its options, and the shapes it answers with.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::analytics::{Analytics, DayCount};
use crate::bus::Subscription;
use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind, EventRef, Message, NewEvent, PluginLog};
use crate::keys::{ApiKeyRecord, IssuedKey, KeyHash, NewApiKey};
use crate::query::{AnalyticsQuery, CursorPage, ExecutionQuery, SessionQuery};
use crate::settings::PluginSetting;
pub use crate::writer::AppendIntent;

/// The largest page `timeline` and `plugin_logs` return, whatever limit is asked for.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// Sessions and their append-only event logs.
///
/// Every method that takes a session id answers an unknown session with empty results, not an
/// error. Writes resolve only once committed, so an acknowledged event survives a crash of the
/// process.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> BackendKind;

    /// Appends `events`, all or none, and answers where each landed, in input order.
    ///
    /// Events of one session get consecutive sequence numbers in input order. Concurrent appends
    /// share commits (group commit); the future resolves after the commit holding these events.
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<EventRef>>;

    /// Announces an append to come: a plugin call that is running now and will log its run
    /// when it ends. While enough are announced, the SQLite writer waits briefly for them
    /// before a commit, so that one commit carries several ([`StoreOptions::commit_delay`]).
    /// Dropping the intent withdraws it; announcing nothing changes no result.
    fn announce_append(&self) -> AppendIntent {
        AppendIntent::default()
    }

    /// Appends one event.
    async fn append_one(&self, event: NewEvent) -> Result<EventRef> {
        self.append(vec![event])
            .await?
            .pop()
            .ok_or(StoreError::Corrupt(
                "an append answered no event".to_owned(),
            ))
    }

    /// The last `n` messages since the latest reset, oldest first.
    async fn short_memory(&self, session_id: &str, n: usize) -> Result<Vec<Message>>;

    /// Every message of the session, resets notwithstanding, oldest first.
    async fn messages(&self, session_id: &str) -> Result<Vec<Message>>;

    /// Events with `seq > after_seq` (all when `None`), in order, at most `limit`
    /// (clamped to `1..=MAX_PAGE_SIZE`).
    async fn timeline(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<Event>>;

    /// Like [`EventStore::timeline`], only events of `kinds` (none when it is empty);
    /// `next_after` continues after the last event returned.
    async fn timeline_of(
        &self,
        session_id: &str,
        kinds: &[EventKind],
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<Event>>;

    /// Message counts: `short` is what [`EventStore::short_memory`] with `short_limit` would
    /// return, `full` every message of the session.
    async fn counts(&self, session_id: &str, short_limit: usize) -> Result<Counts>;

    /// Every session, most recently active first.
    async fn sessions(&self) -> Result<Vec<SessionSummary>>;

    /// A page of sessions, most recently active first (ties by id), optionally only those
    /// whose id or title contains [`SessionQuery::search`].
    async fn session_page(&self, query: &SessionQuery) -> Result<CursorPage<SessionSummary>>;

    /// A page of plugin executions across sessions, newest first, filtered as `query` says.
    /// Read through the `executions` index and the hourly rollup, never whole timelines; with
    /// a session filter, newest means highest `seq`.
    async fn executions(&self, query: &ExecutionQuery) -> Result<CursorPage<PluginLog>>;

    /// Plugin calls over a window: per plugin, per bucket, per source, in total. Summed from
    /// the hourly rollup (or, for one key's calls, from the execution log); the window widens
    /// to whole buckets and the answer says so.
    async fn analytics(&self, query: &AnalyticsQuery) -> Result<Analytics>;

    /// For each UTC day that `since..until` touches, how many sessions had a message that day:
    /// every session, or those `owner` owns.
    async fn conversations_per_day(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        owner: Option<&str>,
    ) -> Result<Vec<DayCount>>;

    /// Plugin executions with `seq > after_seq`, in order, at most `limit`
    /// (clamped to `1..=MAX_PAGE_SIZE`).
    async fn plugin_logs(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<PluginLog>>;

    /// Clears the short memory by appending a reset event; the log keeps everything.
    async fn reset(&self, session_id: &str) -> Result<EventRef> {
        self.append_one(NewEvent::reset(session_id)).await
    }

    /// Like [`EventStore::reset`], but only for a session that exists: an unknown session is
    /// left unknown (not created by its reset) and answers `None`.
    async fn reset_existing(&self, session_id: &str) -> Result<Option<EventRef>>;

    /// Removes the session and every event of it for good; answers how many events went.
    async fn delete_session(&self, session_id: &str) -> Result<u64>;

    /// Sends `payload` on `channel` to the subscribers of every server sharing this database
    /// (PostgreSQL `NOTIFY`; on SQLite, this process at once and other processes on the same
    /// file within a poll interval). See [`crate::bus`].
    async fn notify(&self, channel: &str, payload: &str) -> Result<()>;

    /// The notifications sent on any of `channels` from the moment this answers on.
    async fn subscribe(&self, channels: &[&str]) -> Result<Subscription>;

    /// Every plugin's stored settings, by plugin name.
    async fn plugin_settings(&self) -> Result<Vec<PluginSetting>>;

    /// One plugin's stored settings; `None` when nothing is stored for it.
    async fn plugin_setting(&self, plugin: &str) -> Result<Option<PluginSetting>>;

    /// Stores a plugin's switch (`None`: back to the configuration) and announces the change
    /// on [`crate::PLUGIN_SETTINGS_CHANNEL`].
    async fn set_plugin_enabled(
        &self,
        plugin: &str,
        enabled: Option<bool>,
    ) -> Result<PluginSetting>;

    /// Stores a plugin's approval policy (`None`: back to the configuration) and announces
    /// the change on [`crate::PLUGIN_SETTINGS_CHANNEL`].
    async fn set_plugin_policy(&self, plugin: &str, policy: Option<&str>) -> Result<PluginSetting>;

    /// Claims `session_id` for `owner` (a key's name) if the session does not exist yet and
    /// nobody claimed it, and answers its owner: `owner` after a successful claim, another
    /// key's name, or `None` for a session that exists without an owner.
    async fn claim_session(&self, session_id: &str, owner: &str) -> Result<Option<String>>;

    /// The key that owns `session_id`, if any.
    async fn session_owner(&self, session_id: &str) -> Result<Option<String>>;

    /// Creates a key and announces it on [`crate::KEYS_CHANNEL`]; the secret in the answer is
    /// shown this once and never stored. A name in use, even by a revoked key, is a
    /// [`StoreError::Conflict`].
    async fn create_key(&self, key: NewApiKey) -> Result<IssuedKey>;

    /// Every key, revoked ones included, by name.
    async fn keys(&self) -> Result<Vec<ApiKeyRecord>>;

    /// The live (unrevoked) key whose secret hashes to `hash`.
    async fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>>;

    /// Every live key with its hash, for a server's cache.
    async fn live_keys(&self) -> Result<Vec<(KeyHash, ApiKeyRecord)>>;

    /// Revokes a key and announces it on [`crate::KEYS_CHANNEL`]; false when no live key has
    /// this name.
    async fn revoke_key(&self, name: &str) -> Result<bool>;

    /// Records when keys were last used (a server gathers uses and writes them now and then,
    /// not on every request); a time never moves backwards.
    async fn touch_keys(&self, used: &[(String, DateTime<Utc>)]) -> Result<()>;

    /// What the group-commit writer has done so far in this process.
    fn stats(&self) -> CommitStats;

    /// Lets queued writes finish, stops the writer and closes the connections.
    /// Later calls fail with [`StoreError::Closed`].
    async fn close(&self);
}

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl BackendKind {
    /// The backend a URL names: `sqlite:...`, or `postgres://...` / `postgresql://...`.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }
}

/// Hides a password in a URL so it can go into an error message or a log.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// One page of an ordered listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The `after_seq` that fetches the next page; `None` on the last one.
    pub next_after: Option<i64>,
}

/// Message counts of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    pub short: u64,
    pub full: u64,
}

/// One session, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub message_count: u64,
    /// The first user message, cut to 100 characters; `None` before there is one.
    pub title: Option<String>,
}

/// Counters of the group-commit writer: `commits < requests` means requests shared commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CommitStats {
    /// Transactions committed.
    pub commits: u64,
    /// `append` calls answered with success.
    pub requests: u64,
    /// Events written.
    pub events: u64,
}

/// How hard SQLite works to keep a commit across failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteDurability {
    /// `synchronous=FULL`: the WAL is synced at every commit; survives power loss.
    Full,
    /// `synchronous=NORMAL`, the default: survives `kill -9` of the process (the OS still
    /// holds the WAL pages) but not a power loss or kernel crash.
    #[default]
    Normal,
}

/// Tuning of a store; `StoreOptions::default()` suits a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most `append` calls one commit takes.
    pub max_batch: usize,
    /// Appends waiting for the writer beyond which callers wait to enqueue (back-pressure).
    pub queue_capacity: usize,
    /// Connections for reads (and, on PostgreSQL, for the writer too).
    pub max_connections: u32,
    /// How long SQLite waits for another process' write lock, and how long a caller waits for a
    /// pooled connection.
    pub busy_timeout: Duration,
    pub sqlite_durability: SqliteDurability,
    /// SQLite only: how long the writer may wait for more appends before a commit while at
    /// least [`StoreOptions::commit_siblings`] announced appends are still to come (see
    /// `writer::Gather`); zero commits at once.
    pub commit_delay: Duration,
    /// SQLite only: how many announced appends ([`EventStore::announce_append`]) must be
    /// outstanding for the writer to wait, as PostgreSQL's `commit_siblings`.
    pub commit_siblings: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch: 1024,
            queue_capacity: 8192,
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            sqlite_durability: SqliteDurability::default(),
            commit_delay: Duration::from_micros(500),
            commit_siblings: 5,
        }
    }
}

impl StoreOptions {
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    pub fn with_max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    pub fn with_sqlite_durability(mut self, durability: SqliteDurability) -> Self {
        self.sqlite_durability = durability;
        self
    }

    pub fn with_commit_delay(mut self, delay: Duration) -> Self {
        self.commit_delay = delay;
        self
    }

    pub fn with_commit_siblings(mut self, siblings: usize) -> Self {
        self.commit_siblings = siblings.max(1);
        self
    }
}

/// The SQL `LIMIT` for a page: one more than asked, to learn whether another page follows.
pub(crate) fn page_fetch_limit(limit: usize) -> (usize, i64) {
    let limit = limit.clamp(1, MAX_PAGE_SIZE);
    (limit, i64::try_from(limit + 1).unwrap_or(i64::MAX))
}

/// Cuts a fetch of `limit + 1` rows into a page.
pub(crate) fn into_page<T>(mut items: Vec<T>, limit: usize, seq: impl Fn(&T) -> i64) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_after = if more { items.last().map(seq) } else { None };
    Page { items, next_after }
}

/// A `usize` count as an SQL `LIMIT`.
pub(crate) fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_chosen_by_url() {
        assert_eq!(
            BackendKind::from_url("sqlite://codexcontinue.db").ok(),
            Some(BackendKind::Sqlite)
        );
        assert_eq!(
            BackendKind::from_url("postgres://u@h/db").ok(),
            Some(BackendKind::Postgres)
        );
        assert_eq!(
            BackendKind::from_url("postgresql://u@h/db").ok(),
            Some(BackendKind::Postgres)
        );
        assert!(matches!(
            BackendKind::from_url("mysql://u:secret@h/db"),
            Err(StoreError::UnsupportedUrl(url)) if !url.contains("secret")
        ));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("mysql://u:pw@h:1/db"), "mysql://u:***@h:1/db");
        assert_eq!(redact("mysql://u@h/db"), "mysql://u@h/db");
        assert_eq!(redact("nonsense"), "nonsense");
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let (limit, fetch) = page_fetch_limit(2);
        assert_eq!((limit, fetch), (2, 3));
        let page = into_page(vec![1_i64, 2, 3], limit, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_after, Some(2));
        let page = into_page(vec![1_i64, 2], limit, |n| *n);
        assert_eq!(page.next_after, None);
        assert_eq!(page_fetch_limit(0).0, 1);
        assert_eq!(page_fetch_limit(usize::MAX).0, MAX_PAGE_SIZE);
    }
}
