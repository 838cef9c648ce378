//! What outlives a store: reopening, migrating twice, closing.

use std::sync::Arc;

use codex_store::{EventStore, NewEvent, Role, StoreError, StoreOptions};

use crate::harness::reopen;

both_backends_with_url!(
    events_survive_close_and_reopen,
    migrating_again_changes_nothing
);
both_backends!(appends_after_close_are_refused);

async fn events_survive_close_and_reopen(store: Arc<dyn EventStore>, url: String) {
    let written = store
        .append(vec![
            NewEvent::message("s", Role::User, "remember me"),
            NewEvent::reset("s"),
        ])
        .await
        .unwrap();
    store.close().await;

    let reopened = reopen(&url).await;
    let stored = reopened.timeline("s", None, 10).await.unwrap().items;
    let ids: Vec<_> = stored.iter().map(|e| e.id).collect();
    assert_eq!(ids, written.iter().map(|r| r.id).collect::<Vec<_>>());
    let next = reopened
        .append_one(NewEvent::message("s", Role::User, "again"))
        .await
        .unwrap();
    assert_eq!(next.seq, 3);
    reopened.close().await;
}

async fn migrating_again_changes_nothing(store: Arc<dyn EventStore>, url: String) {
    store
        .append_one(NewEvent::message("s", Role::User, "kept"))
        .await
        .unwrap();
    codex_store::migrate(&url).await.unwrap();
    codex_store::migrate(&url).await.unwrap();
    assert_eq!(store.messages("s").await.unwrap().len(), 1);
}

async fn appends_after_close_are_refused(store: Arc<dyn EventStore>) {
    store
        .append_one(NewEvent::message("s", Role::User, "before"))
        .await
        .unwrap();
    store.close().await;
    let result = store
        .append_one(NewEvent::message("s", Role::User, "after"))
        .await;
    assert!(matches!(result, Err(StoreError::Closed)), "{result:?}");
    assert!(matches!(
        store.delete_session("s").await,
        Err(StoreError::Closed)
    ));
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in [
        "mysql://u:pw@localhost/db",
        "codexcontinue.db",
        "sqlite::memory:",
    ] {
        let result = codex_store::connect(url, StoreOptions::default()).await;
        assert!(
            matches!(result, Err(StoreError::UnsupportedUrl(_))),
            "{url}"
        );
    }
}

#[tokio::test]
async fn migrate_creates_a_missing_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let url = format!("sqlite://{}", path.display());
    codex_store::migrate(&url).await.unwrap();
    assert!(path.is_file());
    let store = codex_store::connect(&url, StoreOptions::default())
        .await
        .unwrap();
    assert!(store.sessions().await.unwrap().is_empty());
    store.close().await;
}

/// The kinds check, rewritten from `IN (...)` to a chain of equalities for speed, still
/// admits exactly the kinds of events and refuses any other.
#[tokio::test]
async fn sqlite_still_checks_event_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kinds.db");
    let url = format!("sqlite://{}", path.display());
    codex_store::migrate(&url).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'events'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(!sql.contains("kind IN"), "{sql}");
    conn.execute(
        "INSERT INTO sessions (id, created_at, last_activity) VALUES ('s', 't', 't')",
        [],
    )
    .unwrap();
    let insert = |seq: i64, kind: &str| {
        conn.execute(
            "INSERT INTO events (session_id, seq, id, kind, ts, payload) \
             VALUES ('s', ?1, ?2, ?3, 't', '{}')",
            rusqlite::params![seq, format!("id-{seq}"), kind],
        )
    };
    for (seq, kind) in [
        "message",
        "plugin_execution",
        "tool_call",
        "tool_result",
        "reset",
        "error",
        "approval",
    ]
    .into_iter()
    .enumerate()
    {
        insert(seq as i64 + 1, kind).unwrap();
    }
    let refused = insert(100, "bogus").unwrap_err();
    assert!(refused.to_string().contains("CHECK"), "{refused}");
}
