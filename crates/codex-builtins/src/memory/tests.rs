//! The memory plugin over an in-memory view of sessions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use codex_plugin::MemoryMessage;

use super::*;

/// Sessions held in memory: short and full message lists per session id.
#[derive(Default)]
pub(crate) struct StoredSessions {
    sessions: HashMap<String, (Vec<MemoryMessage>, Vec<MemoryMessage>)>,
}

impl StoredSessions {
    pub(crate) fn with_session(
        mut self,
        id: &str,
        short: &[(&str, &str)],
        full: &[(&str, &str)],
    ) -> Self {
        self.sessions
            .insert(id.to_owned(), (messages(short), messages(full)));
        self
    }
}

#[async_trait]
impl MemoryView for StoredSessions {
    async fn short(&self, session_id: &str) -> Result<Vec<MemoryMessage>> {
        Ok(self
            .sessions
            .get(session_id)
            .map(|(short, _)| short.clone())
            .unwrap_or_default())
    }

    async fn full(&self, session_id: &str) -> Result<Vec<MemoryMessage>> {
        Ok(self
            .sessions
            .get(session_id)
            .map(|(_, full)| full.clone())
            .unwrap_or_default())
    }
}

/// A store that is down.
pub(crate) struct BrokenStore;

#[async_trait]
impl MemoryView for BrokenStore {
    async fn short(&self, _: &str) -> Result<Vec<MemoryMessage>> {
        Err(PluginError::failed("store unreachable"))
    }

    async fn full(&self, _: &str) -> Result<Vec<MemoryMessage>> {
        Err(PluginError::failed("store unreachable"))
    }
}

/// Messages from `(role, content)` pairs, timestamped a second apart.
pub(crate) fn messages(pairs: &[(&str, &str)]) -> Vec<MemoryMessage> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, (role, content))| MemoryMessage {
            role: (*role).to_owned(),
            content: (*content).to_owned(),
            timestamp: format!("2026-01-01T00:00:{i:02}Z"),
        })
        .collect()
}

pub(crate) fn sessions() -> Arc<dyn MemoryView> {
    Arc::new(
        StoredSessions::default()
            .with_session(
                "alice",
                &[("user", "hi"), ("assistant", "hello")],
                &[
                    ("user", "old"),
                    ("system", "memory reset"),
                    ("user", "hi"),
                    ("assistant", "hello"),
                ],
            )
            .with_session("bob", &[("user", "2+2?")], &[("user", "2+2?")]),
    )
}

/// A call from session `alice`.
pub(crate) fn context(memory: Option<Arc<dyn MemoryView>>) -> ExecContext {
    let ctx = ExecContext::new("alice", Instant::now() + Duration::from_secs(10));
    match memory {
        Some(memory) => ctx.with_memory(memory),
        None => ctx,
    }
}

async fn check(input: Value, expected: Result<Value>) {
    let got = MemoryPlugin::new()
        .execute(input.clone(), &context(Some(sessions())))
        .await;
    assert_eq!(got, expected, "{input}");
}

fn short_of(session: &str, pairs: &[(&str, &str)]) -> Result<Value> {
    Ok(json!({
        "session_id": session,
        "messages": messages(pairs),
        "count": pairs.len(),
    }))
}

#[tokio::test]
async fn returns_the_calling_sessions_short_memory() {
    let alice = short_of("alice", &[("user", "hi"), ("assistant", "hello")]);
    check(Value::Null, alice.clone()).await;
    check(json!(""), alice.clone()).await;
    check(json!({}), alice.clone()).await;
    check(json!({"session_id": null}), alice).await;
}

#[tokio::test]
async fn looks_at_another_session_when_asked() {
    check(
        json!({"session_id": "bob"}),
        short_of("bob", &[("user", "2+2?")]),
    )
    .await;
    check(json!("bob"), short_of("bob", &[("user", "2+2?")])).await;
    check(json!("nobody"), short_of("nobody", &[])).await;
}

#[tokio::test]
async fn bad_input_is_rejected() {
    check(
        json!(7),
        Err(PluginError::invalid_input(
            "expected nothing, a session id or {\"session_id\": \"...\"}, not a number",
        )),
    )
    .await;
    check(
        json!({"session": "bob"}),
        Err(PluginError::invalid_input(
            "unknown field 'session'; expected 'session_id'",
        )),
    )
    .await;
}

#[tokio::test]
async fn fails_clearly_without_memory() {
    let got = MemoryPlugin::new()
        .execute(Value::Null, &context(None))
        .await;
    assert_eq!(
        got,
        Err(PluginError::failed(
            "memory is not available: this call has no session store"
        ))
    );
}

#[tokio::test]
async fn store_errors_reach_the_caller() {
    let got = MemoryPlugin::new()
        .execute(Value::Null, &context(Some(Arc::new(BrokenStore))))
        .await;
    assert_eq!(got, Err(PluginError::failed("store unreachable")));
}
