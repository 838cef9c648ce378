//! Short memory, full memory, counts, and what a reset does to them.

use std::sync::Arc;

use codex_store::{
    Counts, EventKind, EventStore, ExecutionSource, NewEvent, PluginExecution, Role,
};
use serde_json::json;

both_backends!(
    short_memory_is_the_last_n_messages_oldest_first,
    reset_clears_short_memory_but_keeps_history,
    messages_keep_roles_and_order,
);

fn contents(messages: &[codex_store::Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

async fn short_memory_is_the_last_n_messages_oldest_first(store: Arc<dyn EventStore>) {
    let run = PluginExecution::ok("echo", json!("x"), json!("x"), 1, ExecutionSource::Cli);
    for i in 1..=10 {
        store
            .append_one(NewEvent::message("s", Role::User, format!("m{i}")))
            .await
            .unwrap();
        // Non-message events never count as memory.
        store
            .append_one(NewEvent::plugin_execution("s", &run))
            .await
            .unwrap();
    }
    let short = store.short_memory("s", 3).await.unwrap();
    assert_eq!(contents(&short), vec!["m8", "m9", "m10"]);
    assert!(short.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(store.short_memory("s", 100).await.unwrap().len(), 10);
    assert!(store.short_memory("s", 0).await.unwrap().is_empty());
    assert_eq!(
        store.counts("s", 3).await.unwrap(),
        Counts { short: 3, full: 10 }
    );
}

async fn reset_clears_short_memory_but_keeps_history(store: Arc<dyn EventStore>) {
    for i in 1..=5 {
        store
            .append_one(NewEvent::message("s", Role::User, format!("before{i}")))
            .await
            .unwrap();
    }
    let reset = store.reset("s").await.unwrap();
    assert_eq!(reset.seq, 6);
    assert!(store.short_memory("s", 10).await.unwrap().is_empty());
    assert_eq!(
        store.counts("s", 10).await.unwrap(),
        Counts { short: 0, full: 5 }
    );

    for i in 1..=2 {
        store
            .append_one(NewEvent::message("s", Role::Assistant, format!("after{i}")))
            .await
            .unwrap();
    }
    assert_eq!(
        contents(&store.short_memory("s", 10).await.unwrap()),
        vec!["after1", "after2"]
    );
    assert_eq!(
        store.counts("s", 10).await.unwrap(),
        Counts { short: 2, full: 7 }
    );
    assert_eq!(
        store.counts("s", 1).await.unwrap(),
        Counts { short: 1, full: 7 }
    );
    assert_eq!(store.messages("s").await.unwrap().len(), 7);

    let timeline = store.timeline("s", None, 100).await.unwrap().items;
    assert_eq!(timeline.len(), 8);
    assert_eq!(timeline[5].kind, EventKind::Reset);
    assert_eq!(timeline[5].id, reset.id);

    // Only the latest reset matters.
    store.reset("s").await.unwrap();
    assert!(store.short_memory("s", 10).await.unwrap().is_empty());
    assert_eq!(
        store.counts("s", 10).await.unwrap(),
        Counts { short: 0, full: 7 }
    );
}

async fn messages_keep_roles_and_order(store: Arc<dyn EventStore>) {
    let sent = [
        (Role::System, "sys"),
        (Role::User, "question"),
        (Role::Assistant, "answer"),
        (Role::Tool, "tool output"),
    ];
    let events = sent
        .iter()
        .map(|(role, text)| NewEvent::message("s", *role, *text))
        .collect();
    store.append(events).await.unwrap();
    let got: Vec<_> = store
        .messages("s")
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.role, m.content))
        .collect();
    let want: Vec<_> = sent.iter().map(|(r, t)| (*r, t.to_string())).collect();
    assert_eq!(got, want);
}
