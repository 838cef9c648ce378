//! Session listing, purging, and unknown sessions.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use codex_store::{
    Counts, Cursor, EventKind, EventStore, ExecutionSource, NewEvent, PluginExecution, Role,
    SessionQuery, StoreError, StoreOptions,
};
use serde_json::json;

use crate::harness::{FIRST_MIGRATION, OldEvent, TestDb, write_old_events};

both_backends!(
    sessions_list_counts_and_activity,
    delete_purges_a_session_and_nothing_else,
    unknown_sessions_read_as_empty,
    resetting_an_unknown_session_does_not_create_it,
    session_pages_search_ids_and_titles,
    a_title_is_the_first_user_message,
);

both_backends_unopened!(titles_are_backfilled);

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

/// Walks every page of `query` and checks it lists the sessions `want` names, in order.
async fn check(store: &Arc<dyn EventStore>, query: SessionQuery, want: &[&str]) {
    let mut got = Vec::new();
    let mut query = query;
    loop {
        let page = store.session_page(&query).await.unwrap();
        assert!(page.items.len() <= query.limit.max(1));
        got.extend(page.items.into_iter().map(|s| s.id));
        match page.next_before {
            Some(cursor) => query.before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(got, want, "{query:?}");
}

async fn session_pages_search_ids_and_titles(store: Arc<dyn EventStore>) {
    // One batch gives several sessions the same last activity: ties go by id.
    store
        .append(vec![
            NewEvent::message("tie-b", Role::User, "second tie"),
            NewEvent::message("tie-a", Role::User, "first tie"),
        ])
        .await
        .unwrap();
    for (id, first) in [
        ("alpha", "How do I parse TOML?"),
        ("beta", "100% sure_thing"),
        ("gamma", "nothing to see"),
    ] {
        store
            .append(vec![
                NewEvent::message(id, Role::System, "be brief"),
                NewEvent::message(id, Role::User, first),
                NewEvent::message(id, Role::User, "toml again"),
            ])
            .await
            .unwrap();
    }
    let everyone: Vec<String> = store
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(everyone, ["gamma", "beta", "alpha", "tie-a", "tie-b"]);
    for limit in [1, 2, 5, 50] {
        check(
            &store,
            SessionQuery::new(limit),
            &["gamma", "beta", "alpha", "tie-a", "tie-b"],
        )
        .await;
    }
    check(
        &store,
        SessionQuery::new(1).with_search("TIE"),
        &["tie-a", "tie-b"],
    )
    .await;
    // Titles are searched too, ignoring case; only the first user message is the title.
    check(&store, SessionQuery::new(2).with_search("toml"), &["alpha"]).await;
    check(
        &store,
        SessionQuery::new(2).with_search("a"),
        &["gamma", "beta", "alpha", "tie-a"],
    )
    .await;
    // `%` and `_` are themselves, not patterns.
    check(&store, SessionQuery::new(2).with_search("0% s"), &["beta"]).await;
    check(&store, SessionQuery::new(2).with_search("e_t"), &["beta"]).await;
    check(&store, SessionQuery::new(2).with_search("%"), &["beta"]).await;
    check(&store, SessionQuery::new(2).with_search("nobody"), &[]).await;

    for cursor in ["", "s", "s1.zz", "x1.2.61"] {
        let query = SessionQuery::new(2).with_before(Some(Cursor::from(cursor.to_owned())));
        assert!(
            matches!(
                store.session_page(&query).await,
                Err(StoreError::InvalidQuery(_))
            ),
            "{cursor:?}"
        );
    }
}

async fn a_title_is_the_first_user_message(store: Arc<dyn EventStore>) {
    let run = PluginExecution::ok("echo", json!(1), json!(1), 0, ExecutionSource::Api);
    store
        .append_one(NewEvent::plugin_execution("s", &run))
        .await
        .unwrap();
    store
        .append_one(NewEvent::message("s", Role::Assistant, "I speak first"))
        .await
        .unwrap();
    let title = |store: Arc<dyn EventStore>| async move {
        store.sessions().await.unwrap()[0].title.clone()
    };
    assert_eq!(title(store.clone()).await, None);
    let long = "λ".repeat(150);
    store
        .append_one(NewEvent::message("s", Role::User, long.clone()))
        .await
        .unwrap();
    store
        .append_one(NewEvent::message("s", Role::User, "later"))
        .await
        .unwrap();
    assert_eq!(title(store.clone()).await, Some("λ".repeat(100)));
    let page = store.session_page(&SessionQuery::new(10)).await.unwrap();
    assert_eq!(page.items[0].title, Some("λ".repeat(100)));
}

async fn titles_are_backfilled(db: TestDb) {
    codex_store::migrate_to(&db.url, FIRST_MIGRATION)
        .await
        .unwrap();
    let at = Utc::now() - TimeDelta::days(3);
    let message = |session: &str, seq, role: &str, content: &str| OldEvent {
        session_id: session.to_owned(),
        seq,
        kind: EventKind::Message,
        ts: at + TimeDelta::seconds(seq),
        payload: json!({ "role": role, "content": content }),
    };
    write_old_events(
        &db,
        &[
            message("a", 1, "system", "be brief"),
            message("a", 2, "user", &"x".repeat(120)),
            message("a", 3, "user", "second"),
            message("b", 1, "assistant", "no user yet"),
        ],
    )
    .await;
    let store = codex_store::connect(&db.url, StoreOptions::default())
        .await
        .unwrap();
    let titles: Vec<_> = store
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.title))
        .collect();
    assert_eq!(
        titles,
        [
            ("a".to_owned(), Some("x".repeat(100))),
            ("b".to_owned(), None)
        ]
    );
    store
        .append_one(NewEvent::message("b", Role::User, "now a title"))
        .await
        .unwrap();
    let page = store
        .session_page(&SessionQuery::new(1).with_search("NOW A"))
        .await
        .unwrap();
    assert_eq!(page.items[0].title.as_deref(), Some("now a title"));
    store.close().await;
}
