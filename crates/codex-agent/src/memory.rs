//! `StoreMemory`: the event store as the read-only memory plugins see
//! ([`codex_plugin::MemoryView`]).

use std::sync::Arc;

use async_trait::async_trait;
use codex_plugin::{MemoryMessage, MemoryView, PluginError};
use codex_store::{EventKind, EventStore, MAX_PAGE_SIZE, Message, StoreError};

/// How many messages the short memory holds when config says nothing.
pub const DEFAULT_SHORT_LIMIT: usize = 20;

/// What a reset looks like in the full memory.
const RESET_NOTE: &str = "[memory reset]";

/// A session's memory, read from the store.
pub struct StoreMemory {
    store: Arc<dyn EventStore>,
    short_limit: usize,
}

impl StoreMemory {
    /// Short memory holds the last `short_limit` messages since the last reset.
    pub fn new(store: Arc<dyn EventStore>, short_limit: usize) -> Self {
        StoreMemory { store, short_limit }
    }

    pub fn short_limit(&self) -> usize {
        self.short_limit
    }
}

#[async_trait]
impl MemoryView for StoreMemory {
    async fn short(&self, session_id: &str) -> codex_plugin::Result<Vec<MemoryMessage>> {
        let messages = self
            .store
            .short_memory(session_id, self.short_limit)
            .await
            .map_err(unavailable)?;
        Ok(messages.into_iter().map(from_message).collect())
    }

    /// Every message, with each reset shown as a system message `[memory reset]` where it
    /// happened.
    async fn full(&self, session_id: &str) -> codex_plugin::Result<Vec<MemoryMessage>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .timeline(session_id, after, MAX_PAGE_SIZE)
                .await
                .map_err(unavailable)?;
            for event in page.items {
                let timestamp = event.timestamp.to_rfc3339();
                match event.kind {
                    EventKind::Message => {
                        out.push(from_message(Message::try_from(event).map_err(unavailable)?));
                    }
                    EventKind::Reset => out.push(MemoryMessage {
                        role: "system".to_owned(),
                        content: RESET_NOTE.to_owned(),
                        timestamp,
                    }),
                    _ => {}
                }
            }
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }
}

fn from_message(message: Message) -> MemoryMessage {
    MemoryMessage {
        role: message.role.as_str().to_owned(),
        content: message.content,
        timestamp: message.timestamp.to_rfc3339(),
    }
}

/// A plugin sees a store failure as its own failure; the cause is logged here, once.
fn unavailable(error: StoreError) -> PluginError {
    tracing::error!(error = %error, "memory read failed");
    PluginError::failed("session memory is unavailable")
}
