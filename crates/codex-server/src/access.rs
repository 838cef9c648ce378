//! Who is calling, and what they may do: API keys from the config file (admin keys) and from
//! the store (admin or user, with plugin grants and an optional rate), checked at the edge.
//!
//! Checking a key costs one SHA-256 and one hash-map lookup: the store's live keys are cached
//! here and the cache is reloaded whenever the store's bus says keys changed (a revocation on
//! another server included), so no request waits on the database unless it presents a key
//! the cache has not seen yet. With no key configured and none stored, every request passes
//! as an unnamed admin, as loopback use always did.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use codex_agent::chat::{Command, parse_command};
use codex_host::PluginManager;
use codex_store::{ApiKeyRecord, EventStore, KEYS_CHANNEL, KeyHash, KeyRole, StoreError};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, NotUntil, Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;

mod sessions;
pub use sessions::{SESSIONS_CHANNEL, SessionOwners};

/// How often the times keys were last used are written to the store.
pub const LAST_USED_FLUSH: Duration = Duration::from_secs(10);

/// A plugin-name pattern: a name, or a name with `*` standing for any run of characters
/// (`github__*`, `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant(String);

impl Grant {
    pub fn new(pattern: impl Into<String>) -> Self {
        Self(pattern.into())
    }

    /// Whether `plugin` matches, `*` matching any run of characters (none included).
    pub fn allows(&self, plugin: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = plugin.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            // No `*` at all: the whole name must match.
            return rest.is_empty();
        };
        for part in middle {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    }
}

/// The caller of one request, as the auth layer found it.
pub struct Caller {
    /// The key's name (`config:N` for the config file's keys); `None` when no key is needed.
    pub name: Option<Arc<str>>,
    pub role: KeyRole,
    grants: Vec<Grant>,
    limiter: Option<DefaultDirectRateLimiter>,
    /// Unix milliseconds of the last request, and of the last one written to the store.
    last_used: AtomicI64,
    flushed: AtomicI64,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// The caller when no key is configured nor stored.
    pub fn open() -> Self {
        Self::new(None, KeyRole::Admin, Vec::new(), None)
    }

    /// A caller granted nothing (what a request the auth layer did not see is taken for).
    pub fn nobody() -> Self {
        Self::new(None, KeyRole::User, Vec::new(), None)
    }

    fn new(
        name: Option<Arc<str>>,
        role: KeyRole,
        grants: Vec<Grant>,
        rate_per_second: Option<f64>,
    ) -> Self {
        Self {
            name,
            role,
            grants,
            limiter: rate_per_second.and_then(quota).map(RateLimiter::direct),
            last_used: AtomicI64::new(0),
            flushed: AtomicI64::new(0),
        }
    }

    fn stored(record: &ApiKeyRecord) -> Self {
        Self::new(
            Some(Arc::from(record.name.as_str())),
            record.role,
            record.grants.iter().map(Grant::new).collect(),
            record.rate_per_second,
        )
    }

    pub fn is_admin(&self) -> bool {
        self.role == KeyRole::Admin
    }

    /// The actor recorded on what this caller does.
    pub fn actor(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether this caller may run `plugin` (its canonical name).
    pub fn may_run(&self, plugin: &str) -> bool {
        self.is_admin() || self.grants.iter().any(|grant| grant.allows(plugin))
    }

    /// The owner a listing of sessions is limited to: a user key's name; `None` (every
    /// session) for admins.
    pub fn session_filter(&self) -> Option<String> {
        if self.is_admin() {
            None
        } else {
            // A user key always has a name; an unnamed one owns nothing.
            Some(self.name.as_deref().unwrap_or_default().to_owned())
        }
    }

    /// The plugins this caller may not run, left out of every tool list it is shown.
    pub fn not_granted(&self, plugins: &PluginManager) -> Vec<String> {
        if self.is_admin() {
            return Vec::new();
        }
        plugins
            .list()
            .iter()
            .map(|entry| entry.name())
            .filter(|name| !self.may_run(name))
            .map(str::to_owned)
            .collect()
    }

    /// 403 unless this caller may run `plugin`.
    pub fn check_plugin(&self, plugin: &str) -> Result<(), ApiError> {
        if self.may_run(plugin) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this key is not granted the plugin '{plugin}'"
            )))
        }
    }

    /// 403 when `message` is a chat `/run` of a plugin this caller may not run (an unknown
    /// plugin is left to the turn, which answers it as before).
    pub fn check_command(&self, plugins: &PluginManager, message: &str) -> Result<(), ApiError> {
        if self.is_admin() {
            return Ok(());
        }
        if let Some(Command::Run { plugin, .. }) = parse_command(message)
            && let Ok(entry) = plugins.get(&plugin)
        {
            return self.check_plugin(entry.name());
        }
        Ok(())
    }

    /// 403 unless this caller is an admin.
    pub fn check_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this route needs an admin key".to_owned(),
            ))
        }
    }

    /// Takes one request from the key's token bucket; 429 with the wait when it is empty.
    pub fn check_rate(&self) -> Result<(), ApiError> {
        match &self.limiter {
            None => Ok(()),
            Some(limiter) => limiter.check().map_err(retry_after),
        }
    }

    fn mark_used(&self, now_ms: i64) {
        self.last_used.store(now_ms, Ordering::Relaxed);
    }
}

/// One token bucket for every turn that asks the model providers, whoever asks: it keeps a
/// burst of clients from running up a provider's bill or its own rate limit.
pub struct ModelLimit(Option<DefaultDirectRateLimiter>);

impl ModelLimit {
    /// `rate` turns per second at most on average; `None`: no limit.
    pub fn new(rate: Option<f64>) -> Self {
        Self(rate.and_then(quota).map(RateLimiter::direct))
    }

    /// Takes one turn from the bucket unless `message` is a `/run` command (which bypasses
    /// the model); 429 with the wait when it is empty.
    pub fn check(&self, message: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        if matches!(parse_command(message), Some(Command::Run { .. })) {
            return Ok(());
        }
        limiter.check().map_err(retry_after)
    }
}

impl std::fmt::Debug for ModelLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ModelLimit(on)"
        } else {
            "ModelLimit(off)"
        })
    }
}

/// The 429 of an empty bucket, with the whole seconds until it holds a token again.
fn retry_after(not_until: NotUntil<<DefaultClock as Clock>::Instant>) -> ApiError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    ApiError::RateLimited {
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// A token bucket of `rate` requests per second, holding up to one second's worth (at least
/// one request).
pub fn quota(rate: f64) -> Option<Quota> {
    if !(rate.is_finite() && rate > 0.0) {
        return None;
    }
    // The store keeps rates in range; a rate from elsewhere (config) that is not gives no
    // bucket rather than a panic.
    let period = Duration::try_from_secs_f64(1.0 / rate).ok()?;
    let burst = NonZeroU32::new(rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32)?;
    Quota::with_period(period).map(|quota| quota.allow_burst(burst))
}

/// Every key this server accepts, and the cache of the store's ones.
pub struct KeyRing {
    /// The config file's keys: admins, named `config:1`, `config:2`, ...
    config: Vec<(KeyHash, Arc<Caller>)>,
    /// The store's live keys by hash.
    stored: ArcSwap<HashMap<KeyHash, Arc<Caller>>>,
    /// Bumped by every reload, so a key looked up before a reload is not cached after it.
    epoch: AtomicU64,
    open: Arc<Caller>,
    store: Arc<dyn EventStore>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("config_keys", &self.config.len())
            .field("stored_keys", &self.stored.load().len())
            .finish()
    }
}

impl KeyRing {
    /// The ring of the config's keys and the store's live ones, kept fresh over the bus and
    /// writing last use every [`LAST_USED_FLUSH`] until `stop` is cancelled.
    pub async fn start(
        config_keys: &[String],
        store: Arc<dyn EventStore>,
        stop: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        let config = config_keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let name: Arc<str> = Arc::from(format!("config:{}", i + 1));
                let caller = Caller::new(Some(name), KeyRole::Admin, Vec::new(), None);
                (KeyHash::of(key), Arc::new(caller))
            })
            .collect();
        let ring = Arc::new(Self {
            config,
            stored: ArcSwap::from_pointee(HashMap::new()),
            epoch: AtomicU64::new(0),
            open: Arc::new(Caller::open()),
            store: store.clone(),
        });
        // Subscribe before the first load, so a change made meanwhile is not missed.
        let mut changes = store.subscribe(&[KEYS_CHANNEL]).await?;
        ring.reload().await?;
        let follower = Arc::downgrade(&ring);
        let stop_follow = stop.clone();
        tokio::spawn(async move {
            loop {
                let changed = tokio::select! {
                    () = stop_follow.cancelled() => return,
                    changed = changes.recv() => changed,
                };
                let Some(_) = changed else { return };
                let Some(ring) = follower.upgrade() else {
                    return;
                };
                if let Err(err) = ring.reload().await {
                    tracing::warn!(error = %err, "cannot reload API keys");
                }
            }
        });
        let flusher = Arc::downgrade(&ring);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(LAST_USED_FLUSH);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = every.tick() => {}
                }
                let Some(ring) = flusher.upgrade() else {
                    return;
                };
                ring.flush_last_used().await;
            }
            if let Some(ring) = flusher.upgrade() {
                ring.flush_last_used().await;
            }
        });
        Ok(ring)
    }

    /// Whether requests need no key (none configured, none stored).
    pub fn is_open(&self) -> bool {
        self.config.is_empty() && self.stored.load().is_empty()
    }

    /// The caller a request presents `key` for; 401 when it is missing, unknown or revoked.
    pub async fn authenticate(&self, key: Option<&str>) -> Result<Arc<Caller>, ApiError> {
        if self.is_open() {
            return Ok(self.open.clone());
        }
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let hash = KeyHash::of(key);
        let mut found = None;
        // Every config key is compared, in constant time, whichever matches.
        for (known, caller) in &self.config {
            if known.matches(&hash) {
                found = Some(caller.clone());
            }
        }
        if found.is_none() {
            found = self.stored.load().get(&hash).cloned();
        }
        let caller = match found {
            Some(caller) => caller,
            None => self.look_up(&hash).await?,
        };
        caller.mark_used(Utc::now().timestamp_millis());
        Ok(caller)
    }

    /// A key the cache does not hold: made a moment ago elsewhere, or unknown (401).
    async fn look_up(&self, hash: &KeyHash) -> Result<Arc<Caller>, ApiError> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let record = self
            .store
            .key_by_hash(hash)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::Unauthorized)?;
        let caller = Arc::new(Caller::stored(&record));
        // Cached only if no reload ran meanwhile: a reload may have been a revocation.
        self.stored.rcu(|keys| {
            let mut keys = HashMap::clone(keys);
            if self.epoch.load(Ordering::Acquire) == epoch {
                keys.entry(hash.clone()).or_insert_with(|| caller.clone());
            }
            keys
        });
        Ok(caller)
    }

    /// Rereads every live key; a key still live keeps its bucket and last use.
    pub async fn reload(&self) -> Result<(), StoreError> {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let live = self.store.live_keys().await?;
        let old = self.stored.load_full();
        let fresh: HashMap<KeyHash, Arc<Caller>> = live
            .into_iter()
            .map(|(hash, record)| {
                let caller = old
                    .get(&hash)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Caller::stored(&record)));
                (hash, caller)
            })
            .collect();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.stored.store(Arc::new(fresh));
        Ok(())
    }

    /// Writes the last use of every key used since the previous flush.
    pub async fn flush_last_used(&self) {
        let keys = self.stored.load_full();
        let mut used: Vec<(String, DateTime<Utc>)> = Vec::new();
        let mut marks = Vec::new();
        for caller in keys.values() {
            let last = caller.last_used.load(Ordering::Relaxed);
            if last > caller.flushed.load(Ordering::Relaxed)
                && let (Some(name), Some(at)) =
                    (&caller.name, DateTime::from_timestamp_millis(last))
            {
                used.push((name.to_string(), at));
                marks.push((caller.clone(), last));
            }
        }
        if used.is_empty() {
            return;
        }
        match self.store.touch_keys(&used).await {
            Ok(()) => {
                for (caller, last) in marks {
                    caller.flushed.store(last, Ordering::Relaxed);
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot record when keys were last used"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, plugin: &str, expected: bool) {
        assert_eq!(
            Grant::new(pattern).allows(plugin),
            expected,
            "{pattern:?} vs {plugin:?}"
        );
    }

    #[test]
    fn grants_match_names_and_wildcards() {
        check("calculator", "calculator", true);
        check("calculator", "calculator2", false);
        check("calculator", "calc", false);
        check("github__*", "github__create_issue", true);
        check("github__*", "github__", true);
        check("github__*", "gitlab__create_issue", false);
        check("*", "anything", true);
        check("*__search", "web__search", true);
        check("*__search", "web__searcher", false);
        check("a*b*c", "axxbyyc", true);
        check("a*b*c", "axxc", false);
        check("", "", true);
        check("", "x", false);
    }

    #[test]
    fn users_run_only_granted_plugins_and_admins_everything() {
        let user = Caller::new(
            Some(Arc::from("alice")),
            KeyRole::User,
            vec![Grant::new("calculator"), Grant::new("github__*")],
            None,
        );
        assert!(user.may_run("calculator"));
        assert!(user.may_run("github__list"));
        assert!(!user.may_run("shell"));
        assert!(user.check_admin().is_err());
        assert!(Caller::open().may_run("shell"));
    }

    #[test]
    fn a_rate_limited_key_is_told_when_to_retry() {
        let caller = Caller::new(None, KeyRole::User, Vec::new(), Some(1.0));
        assert!(caller.check_rate().is_ok());
        match caller.check_rate() {
            Err(ApiError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(quota(0.0).is_none());
        assert!(quota(0.5).is_some());
    }

    #[test]
    fn the_model_limit_counts_turns_for_the_model_only() {
        let limit = ModelLimit::new(Some(1.0));
        assert!(limit.check("hello").is_ok());
        assert!(matches!(
            limit.check("hello again"),
            Err(ApiError::RateLimited { .. })
        ));
        // `/run` bypasses the model, so it does not count.
        assert!(limit.check("/run echo hi").is_ok());
        assert!(ModelLimit::new(None).check("anything").is_ok());
    }
}
