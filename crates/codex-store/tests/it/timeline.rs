//! The audit timeline and plugin logs: order and pagination.

use std::sync::Arc;

use codex_store::{
    EventKind, EventStore, ExecutionSource, MAX_PAGE_SIZE, NewEvent, PluginExecution, Role,
};
use serde_json::json;

both_backends!(
    pages_walk_the_whole_log_in_order,
    after_the_end_is_an_empty_last_page,
    plugin_logs_hold_only_executions_and_paginate,
    timeline_pages_by_kind,
);

async fn pages_walk_the_whole_log_in_order(store: Arc<dyn EventStore>) {
    let events = (1..=25)
        .map(|i| NewEvent::message("s", Role::User, i.to_string()))
        .collect();
    store.append(events).await.unwrap();

    let mut after = None;
    let mut sizes = Vec::new();
    let mut seqs = Vec::new();
    loop {
        let page = store.timeline("s", after, 10).await.unwrap();
        sizes.push(page.items.len());
        seqs.extend(page.items.iter().map(|e| e.seq));
        match page.next_after {
            Some(next) => {
                assert_eq!(Some(next), page.items.last().map(|e| e.seq));
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(seqs, (1..=25).collect::<Vec<i64>>());

    // A page that ends exactly at the end says so.
    let page = store.timeline("s", Some(15), 10).await.unwrap();
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.next_after, None);
    // Limits are clamped, never an error.
    assert_eq!(store.timeline("s", None, 0).await.unwrap().items.len(), 1);
    assert_eq!(
        store
            .timeline("s", None, MAX_PAGE_SIZE * 10)
            .await
            .unwrap()
            .items
            .len(),
        25
    );
}

async fn after_the_end_is_an_empty_last_page(store: Arc<dyn EventStore>) {
    store
        .append_one(NewEvent::message("s", Role::User, "only"))
        .await
        .unwrap();
    let page = store.timeline("s", Some(1), 10).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.next_after, None);
    let page = store.timeline("s", Some(-5), 10).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn plugin_logs_hold_only_executions_and_paginate(store: Arc<dyn EventStore>) {
    for i in 0..6 {
        let run = if i % 2 == 0 {
            PluginExecution::ok("echo", json!(i), json!(i), i, ExecutionSource::Api)
        } else {
            PluginExecution::failed(
                "echo",
                json!(i),
                "timeout",
                "too slow",
                i,
                ExecutionSource::Mcp,
            )
        };
        store
            .append(vec![
                NewEvent::message("s", Role::User, format!("/run echo {i}")),
                NewEvent::plugin_execution("s", &run),
            ])
            .await
            .unwrap();
    }
    let first = store.plugin_logs("s", None, 4).await.unwrap();
    assert_eq!(first.items.len(), 4);
    assert!(
        first.items.iter().all(|log| log.seq % 2 == 0),
        "executions sit at even seqs"
    );
    assert_eq!(first.next_after, Some(8));
    let second = store.plugin_logs("s", first.next_after, 4).await.unwrap();
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.next_after, None);
    let statuses: Vec<_> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|log| (log.execution.input.clone(), log.execution.is_ok()))
        .collect();
    let want: Vec<_> = (0..6).map(|i| (json!(i), i % 2 == 0)).collect();
    assert_eq!(statuses, want);
}

async fn timeline_pages_by_kind(store: Arc<dyn EventStore>) {
    let mut events = Vec::new();
    for i in 0..30 {
        events.push(match i % 5 {
            0 | 3 => NewEvent::message("s", Role::User, i.to_string()),
            1 => NewEvent::plugin_execution(
                "s",
                &PluginExecution::ok("echo", json!(i), json!(i), 1, ExecutionSource::Api),
            ),
            2 => NewEvent::tool_call("s", format!("c{i}"), "echo", json!(i)),
            _ => NewEvent::reset("s"),
        });
    }
    store.append(events).await.unwrap();
    let all = store.timeline("s", None, 100).await.unwrap().items;
    for kinds in [
        vec![EventKind::Message],
        vec![EventKind::Reset, EventKind::PluginExecution],
        vec![EventKind::Error],
        EventKind::ALL.to_vec(),
    ] {
        let want: Vec<i64> = all
            .iter()
            .filter(|e| kinds.contains(&e.kind))
            .map(|e| e.seq)
            .collect();
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = store.timeline_of("s", &kinds, after, 4).await.unwrap();
            assert!(page.items.len() <= 4);
            assert!(page.items.iter().all(|e| kinds.contains(&e.kind)));
            got.extend(page.items.iter().map(|e| e.seq));
            match page.next_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(got, want, "{kinds:?}");
    }
    let none = store.timeline_of("s", &[], None, 10).await.unwrap();
    assert!(none.items.is_empty() && none.next_after.is_none());
    let later = store
        .timeline_of("s", &[EventKind::Message], Some(25), 10)
        .await
        .unwrap();
    let seqs: Vec<i64> = later.items.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [26, 29]);
}
