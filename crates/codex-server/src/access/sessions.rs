//! Session ownership at the edge: a user key reaches only the sessions it owns, and any other
//! session id (another key's, one made before keys, or none at all) answers the same 404, so
//! nothing tells a user that someone else's session exists. Admins reach every session.
//!
//! Owners never change while a session lives, so they are cached here; a purge (which frees
//! the id) is announced on [`SESSIONS_CHANNEL`] and drops the entry on every server.

use std::collections::HashMap;
use std::sync::Arc;

use codex_store::{EventStore, StoreError};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::Caller;
use crate::error::ApiError;

/// The bus channel that says "this session was purged" (payload: the session id).
pub const SESSIONS_CHANNEL: &str = "codex_sessions";

/// Owners cached at most; the cache starts over when full.
const MAX_CACHED: usize = 100_000;

/// Who owns which session, as far as this server has asked.
pub struct SessionOwners {
    store: Arc<dyn EventStore>,
    cache: Mutex<HashMap<String, Arc<str>>>,
}

impl std::fmt::Debug for SessionOwners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOwners")
            .field("cached", &self.cache.lock().len())
            .finish()
    }
}

impl SessionOwners {
    /// The owners of `store`'s sessions, forgetting a purged session's owner when any server
    /// announces the purge, until `stop` is cancelled.
    pub async fn start(
        store: Arc<dyn EventStore>,
        stop: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        let owners = Arc::new(Self {
            store: store.clone(),
            cache: Mutex::new(HashMap::new()),
        });
        let mut purges = store.subscribe(&[SESSIONS_CHANNEL]).await?;
        let weak = Arc::downgrade(&owners);
        tokio::spawn(async move {
            loop {
                let purge = tokio::select! {
                    () = stop.cancelled() => return,
                    purge = purges.recv() => purge,
                };
                let Some(purge) = purge else { return };
                let Some(owners) = weak.upgrade() else { return };
                let mut cache = owners.cache.lock();
                if purge.resync {
                    cache.clear();
                } else {
                    cache.remove(&purge.payload);
                }
            }
        });
        Ok(owners)
    }

    /// Ok when `caller` may read `session_id`; the 404 of an unknown session otherwise.
    pub async fn check_read(&self, caller: &Caller, session_id: &str) -> Result<(), ApiError> {
        if caller.is_admin() {
            return Ok(());
        }
        let owner = self.owner(session_id).await?;
        owned(caller, session_id, owner.as_deref())
    }

    /// The key that owns `session_id`; `None` when nobody does (or it does not exist).
    pub async fn owner(&self, session_id: &str) -> Result<Option<Arc<str>>, StoreError> {
        Ok(match self.cached(session_id) {
            Some(owner) => Some(owner),
            None => self.remember(session_id, self.store.session_owner(session_id).await?),
        })
    }

    /// Ok when `caller` may write into `session_id`, claiming it for the caller's key when it
    /// is new; the 404 of an unknown session when it belongs to someone else.
    pub async fn check_write(&self, caller: &Caller, session_id: &str) -> Result<(), ApiError> {
        // Without keys nobody owns anything, as before keys existed.
        let Some(name) = caller.name.as_deref() else {
            return Ok(());
        };
        if let Some(owner) = self.cached(session_id) {
            return if caller.is_admin() {
                Ok(())
            } else {
                owned(caller, session_id, Some(&*owner))
            };
        }
        let owner = self.store.claim_session(session_id, name).await?;
        let owner = self.remember(session_id, owner);
        if caller.is_admin() {
            Ok(())
        } else {
            owned(caller, session_id, owner.as_deref())
        }
    }

    /// Forgets a purged session here and on every other server.
    pub async fn purged(&self, session_id: &str) -> Result<(), StoreError> {
        self.cache.lock().remove(session_id);
        self.store.notify(SESSIONS_CHANNEL, session_id).await
    }

    fn cached(&self, session_id: &str) -> Option<Arc<str>> {
        self.cache.lock().get(session_id).cloned()
    }

    fn remember(&self, session_id: &str, owner: Option<String>) -> Option<Arc<str>> {
        let owner: Arc<str> = Arc::from(owner?);
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(session_id.to_owned(), owner.clone());
        Some(owner)
    }
}

fn owned(caller: &Caller, session_id: &str, owner: Option<&str>) -> Result<(), ApiError> {
    if caller.is_admin() || (owner.is_some() && owner == caller.name.as_deref()) {
        Ok(())
    } else {
        Err(not_found(session_id))
    }
}

/// What an unknown session and another key's session both answer.
pub fn not_found(session_id: &str) -> ApiError {
    ApiError::NotFound(format!("no session '{session_id}'"))
}
