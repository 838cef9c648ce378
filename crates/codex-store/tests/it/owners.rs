//! Session ownership: a key claims a new session, never an existing one, and lists only its
//! own.

use std::sync::Arc;

use codex_store::{EventStore, NewEvent, Role, SessionQuery};

both_backends!(
    a_new_session_is_claimed_once,
    an_existing_session_cannot_be_claimed,
    sessions_are_listed_per_owner,
    a_purged_session_is_free_again,
);

async fn a_new_session_is_claimed_once(store: Arc<dyn EventStore>) {
    assert_eq!(store.session_owner("s1").await.unwrap(), None);
    assert_eq!(
        store.claim_session("s1", "alice").await.unwrap().as_deref(),
        Some("alice")
    );
    // Claiming again, or by another key, changes nothing.
    assert_eq!(
        store.claim_session("s1", "bob").await.unwrap().as_deref(),
        Some("alice")
    );
    store
        .append_one(NewEvent::message("s1", Role::User, "hi"))
        .await
        .unwrap();
    assert_eq!(
        store.claim_session("s1", "bob").await.unwrap().as_deref(),
        Some("alice")
    );
    assert!(store.claim_session("", "bob").await.is_err());
}

async fn an_existing_session_cannot_be_claimed(store: Arc<dyn EventStore>) {
    store
        .append_one(NewEvent::message("old", Role::User, "made before keys"))
        .await
        .unwrap();
    assert_eq!(store.claim_session("old", "mallory").await.unwrap(), None);
    assert_eq!(store.session_owner("old").await.unwrap(), None);
}

async fn sessions_are_listed_per_owner(store: Arc<dyn EventStore>) {
    for (session, owner) in [("a1", "alice"), ("b1", "bob"), ("a2", "alice")] {
        store.claim_session(session, owner).await.unwrap();
        store
            .append_one(NewEvent::message(session, Role::User, "x"))
            .await
            .unwrap();
    }
    store
        .append_one(NewEvent::message("nobody", Role::User, "x"))
        .await
        .unwrap();
    let ids = |page: codex_store::CursorPage<codex_store::SessionSummary>| {
        let mut ids: Vec<String> = page.items.into_iter().map(|s| s.id).collect();
        ids.sort();
        ids
    };
    let alice = store
        .session_page(&SessionQuery::new(10).with_owner("alice"))
        .await
        .unwrap();
    assert_eq!(ids(alice), vec!["a1", "a2"]);
    let searched = store
        .session_page(&SessionQuery::new(10).with_owner("alice").with_search("2"))
        .await
        .unwrap();
    assert_eq!(ids(searched), vec!["a2"]);
    let everyone = store.session_page(&SessionQuery::new(10)).await.unwrap();
    assert_eq!(ids(everyone), vec!["a1", "a2", "b1", "nobody"]);
}

async fn a_purged_session_is_free_again(store: Arc<dyn EventStore>) {
    store.claim_session("gone", "alice").await.unwrap();
    store
        .append_one(NewEvent::message("gone", Role::User, "x"))
        .await
        .unwrap();
    store.delete_session("gone").await.unwrap();
    assert_eq!(store.session_owner("gone").await.unwrap(), None);
    assert_eq!(
        store.claim_session("gone", "bob").await.unwrap().as_deref(),
        Some("bob")
    );
}
