//! Session listing, purging, and unknown sessions.

use std::sync::Arc;

use codex_store::{Counts, EventStore, ExecutionSource, NewEvent, PluginExecution, Role};
use serde_json::json;

both_backends!(
    sessions_list_counts_and_activity,
    delete_purges_a_session_and_nothing_else,
    unknown_sessions_read_as_empty,
    resetting_an_unknown_session_does_not_create_it,
);

async fn sessions_list_counts_and_activity(store: Arc<dyn EventStore>) {
    let a = store
        .append(vec![
            NewEvent::message("a", Role::User, "1"),
            NewEvent::message("a", Role::Assistant, "2"),
            NewEvent::message("a", Role::User, "3"),
        ])
        .await
        .unwrap();
    let run = PluginExecution::ok("echo", json!(1), json!(1), 0, ExecutionSource::Cli);
    let b = store
        .append(vec![
            NewEvent::message("b", Role::User, "1"),
            NewEvent::plugin_execution("b", &run),
        ])
        .await
        .unwrap();
    let later = store
        .append_one(NewEvent::message("a", Role::User, "4"))
        .await
        .unwrap();

    let sessions = store.sessions().await.unwrap();
    let listed: Vec<_> = sessions
        .iter()
        .map(|s| (s.id.as_str(), s.message_count))
        .collect();
    // Most recently active first; ties (same commit timestamp) by id.
    assert_eq!(listed, vec![("a", 4), ("b", 1)]);
    assert_eq!(sessions[0].created_at, a[0].timestamp);
    assert_eq!(sessions[0].last_activity, later.timestamp);
    assert_eq!(sessions[1].created_at, b[0].timestamp);
    assert!(sessions.iter().all(|s| s.created_at <= s.last_activity));
}

async fn delete_purges_a_session_and_nothing_else(store: Arc<dyn EventStore>) {
    for session in ["a", "b"] {
        store
            .append(vec![
                NewEvent::message(session, Role::User, "hi"),
                NewEvent::reset(session),
            ])
            .await
            .unwrap();
    }
    assert_eq!(store.delete_session("a").await.unwrap(), 2);
    assert!(
        store
            .timeline("a", None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(store.messages("a").await.unwrap().is_empty());
    assert_eq!(store.counts("a", 10).await.unwrap(), Counts::default());
    let ids: Vec<_> = store
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec!["b".to_owned()]);
    assert_eq!(store.timeline("b", None, 10).await.unwrap().items.len(), 2);

    // A purged session starts afresh.
    let again = store
        .append_one(NewEvent::message("a", Role::User, "back"))
        .await
        .unwrap();
    assert_eq!(again.seq, 1);
    assert_eq!(store.delete_session("never-was").await.unwrap(), 0);
}

async fn unknown_sessions_read_as_empty(store: Arc<dyn EventStore>) {
    store
        .append_one(NewEvent::message("known", Role::User, "hi"))
        .await
        .unwrap();
    let page = store.timeline("unknown", None, 50).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.next_after, None);
    assert!(store.short_memory("unknown", 10).await.unwrap().is_empty());
    assert!(store.messages("unknown").await.unwrap().is_empty());
    assert!(
        store
            .plugin_logs("unknown", None, 50)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        store.counts("unknown", 10).await.unwrap(),
        Counts::default()
    );
}

// Regression: `DELETE /memory` on a session nobody used created it (a session holding only
// its reset), so it showed up in `/sessions`.
async fn resetting_an_unknown_session_does_not_create_it(store: Arc<dyn EventStore>) {
    assert_eq!(store.reset_existing("nobody").await.unwrap(), None);
    assert!(store.sessions().await.unwrap().is_empty());
    assert!(
        store
            .timeline("nobody", None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    store
        .append_one(NewEvent::message("known", Role::User, "hi"))
        .await
        .unwrap();
    let reset = store.reset_existing("known").await.unwrap().unwrap();
    assert_eq!((reset.session_id.as_str(), reset.seq), ("known", 2));
    let more = store
        .append_one(NewEvent::message("known", Role::User, "again"))
        .await
        .unwrap();
    assert_eq!(more.seq, 3, "the counter moved on past the reset");
    let sessions = store.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].message_count, 2);
    assert_eq!(sessions[0].last_activity, more.timestamp);
    let short = store.short_memory("known", 10).await.unwrap();
    assert_eq!(short.len(), 1, "only the message after the reset");
}
