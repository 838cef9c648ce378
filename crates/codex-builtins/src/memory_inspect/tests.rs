//! memory_inspect over an in-memory view of sessions.

use std::sync::Arc;

use codex_plugin::PluginError;

use super::*;
use crate::memory::tests::{BrokenStore, context, messages, sessions};

async fn check(input: Value, expected: Result<Value>) {
    let got = MemoryInspectPlugin::new()
        .execute(input.clone(), &context(Some(sessions())))
        .await;
    assert_eq!(got, expected, "{input}");
}

fn inspected(session: &str, short: &[(&str, &str)], full: &[(&str, &str)]) -> Result<Value> {
    Ok(json!({
        "session_id": session,
        "short": messages(short),
        "full": messages(full),
        "counts": {"short": short.len(), "full": full.len()},
    }))
}

#[tokio::test]
async fn shows_short_and_full_memory_with_counts() {
    let alice = inspected(
        "alice",
        &[("user", "hi"), ("assistant", "hello")],
        &[
            ("user", "old"),
            ("system", "memory reset"),
            ("user", "hi"),
            ("assistant", "hello"),
        ],
    );
    check(Value::Null, alice.clone()).await;
    check(json!({}), alice).await;
    check(
        json!({"session_id": "bob"}),
        inspected("bob", &[("user", "2+2?")], &[("user", "2+2?")]),
    )
    .await;
    check(json!("nobody"), inspected("nobody", &[], &[])).await;
}

#[tokio::test]
async fn bad_input_is_rejected() {
    check(
        json!({"session_id": 3}),
        Err(PluginError::invalid_input(
            "'session_id' must be a string, not a number",
        )),
    )
    .await;
}

#[tokio::test]
async fn fails_clearly_without_memory() {
    let got = MemoryInspectPlugin::new()
        .execute(Value::Null, &context(None))
        .await;
    assert_eq!(
        got,
        Err(PluginError::failed(
            "memory is not available: this call has no session store"
        ))
    );
    let got = MemoryInspectPlugin::new()
        .execute(Value::Null, &context(Some(Arc::new(BrokenStore))))
        .await;
    assert_eq!(got, Err(PluginError::failed("store unreachable")));
}
