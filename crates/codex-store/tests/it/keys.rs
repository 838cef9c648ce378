//! API keys in the store: hashes only, revocation, last use, and the notifications of both.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use codex_store::{EventStore, KEYS_CHANNEL, KeyHash, KeyRole, NewApiKey, StoreError};

use crate::harness::reopen;

both_backends!(
    keys_are_stored_as_hashes_and_found_by_them,
    revoked_keys_are_refused_and_their_names_kept,
    last_use_only_moves_forward,
);

both_backends_with_url!(a_key_created_by_one_store_is_announced_to_another);

fn user(name: &str, grants: &[&str]) -> NewApiKey {
    NewApiKey {
        name: name.to_owned(),
        role: KeyRole::User,
        grants: grants.iter().map(|g| (*g).to_owned()).collect(),
        rate_per_second: Some(5.0),
    }
}

async fn keys_are_stored_as_hashes_and_found_by_them(store: Arc<dyn EventStore>) {
    let issued = store
        .create_key(user("alice", &["calculator", "github__*"]))
        .await
        .unwrap();
    assert!(issued.secret.starts_with(codex_store::KEY_PREFIX));
    assert_eq!(issued.record.role, KeyRole::User);
    assert_eq!(issued.record.grants, vec!["calculator", "github__*"]);
    assert_eq!(issued.record.rate_per_second, Some(5.0));
    assert_eq!(issued.record.last_used_at, None);

    let found = store
        .key_by_hash(&KeyHash::of(&issued.secret))
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&issued.record));
    assert_eq!(
        store.key_by_hash(&KeyHash::of("cc_wrong")).await.unwrap(),
        None
    );

    // Nothing stored holds the secret.
    let live = store.live_keys().await.unwrap();
    assert_eq!(live.len(), 1);
    assert!(live[0].0.matches(&KeyHash::of(&issued.secret)));
    let listed = format!("{:?}", store.keys().await.unwrap());
    assert!(!listed.contains(&issued.secret[3..]));

    let admin = store
        .create_key(NewApiKey {
            name: "ops".to_owned(),
            role: KeyRole::Admin,
            grants: Vec::new(),
            rate_per_second: None,
        })
        .await
        .unwrap();
    assert_ne!(admin.secret, issued.secret);
    let names: Vec<_> = store
        .keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.name, k.role))
        .collect();
    assert_eq!(
        names,
        vec![
            ("alice".to_owned(), KeyRole::User),
            ("ops".to_owned(), KeyRole::Admin)
        ]
    );
}

async fn revoked_keys_are_refused_and_their_names_kept(store: Arc<dyn EventStore>) {
    let issued = store.create_key(user("bob", &["echo"])).await.unwrap();
    assert!(store.revoke_key("bob").await.unwrap());
    assert!(!store.revoke_key("bob").await.unwrap());
    assert!(!store.revoke_key("nobody").await.unwrap());
    assert_eq!(
        store
            .key_by_hash(&KeyHash::of(&issued.secret))
            .await
            .unwrap(),
        None
    );
    assert!(store.live_keys().await.unwrap().is_empty());
    let listed = store.keys().await.unwrap();
    assert!(listed[0].revoked_at.is_some());
    assert!(matches!(
        store.create_key(user("bob", &[])).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_key(user("bad name", &[])).await,
        Err(StoreError::InvalidQuery(_))
    ));
}

async fn last_use_only_moves_forward(store: Arc<dyn EventStore>) {
    store.create_key(user("carol", &[])).await.unwrap();
    let now = Utc::now().trunc_subsecs_micros();
    store
        .touch_keys(&[("carol".to_owned(), now), ("ghost".to_owned(), now)])
        .await
        .unwrap();
    store
        .touch_keys(&[("carol".to_owned(), now - TimeDelta::seconds(60))])
        .await
        .unwrap();
    let carol = store.keys().await.unwrap().remove(0);
    assert_eq!(carol.last_used_at, Some(now));
}

async fn a_key_created_by_one_store_is_announced_to_another(
    store: Arc<dyn EventStore>,
    url: String,
) {
    let other = reopen(&url).await;
    let mut changes = store.subscribe(&[KEYS_CHANNEL]).await.unwrap();
    let issued = other.create_key(user("dave", &["*"])).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("within the bound")
        .expect("open");
    assert_eq!(heard.payload, "dave");
    assert!(
        store
            .key_by_hash(&KeyHash::of(&issued.secret))
            .await
            .unwrap()
            .is_some()
    );
    other.revoke_key("dave").await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("within the bound")
        .expect("open");
    assert_eq!(heard.payload, "dave");
    other.close().await;
}

/// Microsecond timestamps, as both databases keep them.
trait Micros {
    fn trunc_subsecs_micros(self) -> Self;
}

impl Micros for chrono::DateTime<Utc> {
    fn trunc_subsecs_micros(self) -> Self {
        chrono::SubsecRound::trunc_subsecs(self, 6)
    }
}
