//! Appending: sequence numbers, ids, atomic batches, payloads of every kind.

use std::collections::HashSet;
use std::sync::Arc;

use codex_store::{
    ApprovalPayload, EventKind, EventStore, ExecutionSource, NewEvent, PluginExecution, Role,
    StoreError,
};
use serde_json::json;

both_backends!(
    seqs_start_at_one_and_are_gapless_per_session,
    an_empty_append_writes_nothing,
    an_invalid_event_fails_the_whole_batch,
    every_kind_round_trips,
    a_batch_is_one_commit,
    large_and_unicode_payloads_round_trip,
    nul_characters_round_trip,
    numbers_read_back_bit_for_bit,
);

async fn seqs_start_at_one_and_are_gapless_per_session(store: Arc<dyn EventStore>) {
    let refs = store
        .append(vec![
            NewEvent::message("a", Role::User, "a1"),
            NewEvent::message("b", Role::User, "b1"),
            NewEvent::message("a", Role::Assistant, "a2"),
            NewEvent::reset("a"),
            NewEvent::message("b", Role::Assistant, "b2"),
        ])
        .await
        .unwrap();
    let got: Vec<_> = refs
        .iter()
        .map(|r| (r.session_id.as_str(), r.seq))
        .collect();
    assert_eq!(got, vec![("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2)]);
    let ids: HashSet<_> = refs.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), refs.len(), "ids are unique");

    let next = store
        .append_one(NewEvent::message("a", Role::User, "a3"))
        .await
        .unwrap();
    assert_eq!(next.seq, 4);

    // What an append answers is what a read returns.
    let page = store.timeline("a", None, 100).await.unwrap();
    let stored: Vec<_> = page
        .items
        .iter()
        .map(|e| (e.id, e.seq, e.timestamp))
        .collect();
    let answered: Vec<_> = refs
        .iter()
        .filter(|r| r.session_id == "a")
        .chain([&next])
        .map(|r| (r.id, r.seq, r.timestamp))
        .collect();
    assert_eq!(stored, answered);
}

async fn an_empty_append_writes_nothing(store: Arc<dyn EventStore>) {
    assert!(store.append(Vec::new()).await.unwrap().is_empty());
    assert_eq!(store.stats().commits, 0);
    assert!(store.sessions().await.unwrap().is_empty());
}

async fn an_invalid_event_fails_the_whole_batch(store: Arc<dyn EventStore>) {
    let result = store
        .append(vec![
            NewEvent::message("a", Role::User, "fine"),
            NewEvent::message("", Role::User, "no session"),
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidEvent(_))),
        "{result:?}"
    );
    let result = store
        .append(vec![
            NewEvent::message("a", Role::User, "fine"),
            NewEvent::new("a", EventKind::Message, json!({ "content": "no role" })),
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidEvent(_))),
        "{result:?}"
    );
    assert!(
        store
            .timeline("a", None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(store.sessions().await.unwrap().is_empty());
}

async fn every_kind_round_trips(store: Arc<dyn EventStore>) {
    let run = PluginExecution::ok(
        "calculator",
        json!("2*(3+4)"),
        json!({ "result": 14 }),
        2,
        ExecutionSource::Api,
    );
    let failed = PluginExecution::failed(
        "shell",
        json!({ "command": "ls" }),
        "denied",
        "shell is disabled",
        0,
        ExecutionSource::Chat,
    );
    let events = vec![
        NewEvent::message("s", Role::System, "be brief"),
        NewEvent::plugin_execution("s", &run),
        NewEvent::tool_call("s", "call-1", "calculator", json!({ "data": "1+1" })),
        NewEvent::tool_result("s", "call-1", "calculator", json!(2), false),
        NewEvent::plugin_execution("s", &failed),
        NewEvent::error("s", "model_unavailable", "no model configured"),
        NewEvent::reset("s"),
        // A kind added by a later migration: the CHECK of both databases takes it.
        NewEvent::approval(
            "s",
            &ApprovalPayload {
                approval_id: uuid::Uuid::now_v7(),
                call_id: "call-2".to_owned(),
                plugin: "shell".to_owned(),
                arguments: json!({ "command": "ls" }),
                state: "denied".to_owned(),
                by: Some("alice".to_owned()),
                remember: true,
            },
        ),
    ];
    assert_eq!(
        EventKind::ALL.len(),
        events.iter().map(|e| e.kind).collect::<HashSet<_>>().len(),
        "every kind is written"
    );
    store.append(events.clone()).await.unwrap();

    let page = store.timeline("s", None, 100).await.unwrap();
    let kinds: Vec<_> = page.items.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, events.iter().map(|e| e.kind).collect::<Vec<_>>());
    for (stored, sent) in page.items.iter().zip(&events) {
        assert_eq!(stored.payload, sent.payload, "payload of {}", stored.kind);
        assert_eq!(stored.session_id, "s");
    }
    let logs = store.plugin_logs("s", None, 100).await.unwrap();
    let executions: Vec<_> = logs.items.into_iter().map(|log| log.execution).collect();
    assert_eq!(executions, vec![run, failed]);
}

async fn a_batch_is_one_commit(store: Arc<dyn EventStore>) {
    let before = store.stats();
    let batch = (0..100)
        .map(|i| NewEvent::message(format!("s{}", i % 7), Role::User, i.to_string()))
        .collect();
    store.append(batch).await.unwrap();
    let after = store.stats();
    assert_eq!(after.commits - before.commits, 1);
    assert_eq!(after.requests - before.requests, 1);
    assert_eq!(after.events - before.events, 100);
}

async fn large_and_unicode_payloads_round_trip(store: Arc<dyn EventStore>) {
    let big = "λ🦀 \"quoted\" \\ back\nslash ".repeat(5_000);
    store
        .append_one(NewEvent::message("ü-session 🦀", Role::User, big.clone()))
        .await
        .unwrap();
    let messages = store.messages("ü-session 🦀").await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].content, big);
}

// Found by the `nul_round_trip` fuzz target: serde_json's default float parser may land one
// ulp off the nearest double, so 6e69 parsed to 6.0000000000000004e69, which then read back from
// the store as 6e69. With `float_roundtrip` every number comes back as it went in.
async fn numbers_read_back_bit_for_bit(store: Arc<dyn EventStore>) {
    let input: serde_json::Value =
        serde_json::from_str("[6e69, 0.1, 1e-300, 1.7976931348623157e308]").unwrap();
    assert_eq!(input[0].as_f64(), Some(6e69));
    let run = PluginExecution::ok("calculator", input.clone(), input, 1, ExecutionSource::Api);
    store
        .append_one(NewEvent::plugin_execution("floats", &run))
        .await
        .unwrap();
    let logs = store.plugin_logs("floats", None, 10).await.unwrap();
    assert_eq!(logs.items[0].execution, run);
    let output = logs.items[0].execution.output.as_ref().unwrap();
    let bits: Vec<u64> = output
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_f64().unwrap().to_bits())
        .collect();
    assert_eq!(
        bits,
        [
            6e69_f64.to_bits(),
            0.1_f64.to_bits(),
            1e-300_f64.to_bits(),
            f64::MAX.to_bits()
        ]
    );
}

// PostgreSQL's jsonb refuses `\u0000` in strings, so a plugin called with "a\u0000b" failed
// to log and the call failed with it. Such payloads are escaped on PostgreSQL; the private-use
// character the escaping uses must come back unchanged too.
async fn nul_characters_round_trip(store: Arc<dyn EventStore>) {
    let run = PluginExecution::ok(
        "echo",
        json!("a\u{0}b"),
        json!({"k\u{0}ey": ["\u{0}", "\u{E000}0", "\u{E000}\u{E000}"]}),
        1,
        ExecutionSource::Api,
    );
    store
        .append(vec![
            NewEvent::plugin_execution("s", &run),
            NewEvent::message("s", Role::User, "x\u{0}y \u{E000}"),
        ])
        .await
        .unwrap();
    store.reset_existing("s").await.unwrap();
    store
        .append_one(NewEvent::message("s", Role::User, "\u{0}\u{E000}0"))
        .await
        .unwrap();

    let logs = store.plugin_logs("s", None, 100).await.unwrap();
    assert_eq!(logs.items.len(), 1);
    assert_eq!(logs.items[0].execution, run);
    let contents: Vec<_> = store
        .messages("s")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(contents, ["x\u{0}y \u{E000}", "\u{0}\u{E000}0"]);
}
