//! Route handlers, one module per resource; `router.rs` lists every path.

pub mod analytics;
pub mod approvals;
pub mod chat;
pub mod executions;
pub mod history;
pub mod keys;
pub mod memory;
pub mod openai;
pub mod original;
pub mod plugins;
pub mod running;
pub mod sessions;
pub mod system;

/// The longest key name an `actor` filter may give (the store's limit on key names).
const MAX_ACTOR_LEN: usize = 64;

/// An `actor` query parameter as the schema documents it: a key's name, 1 to 64 bytes.
pub(crate) fn actor_filter(
    actor: Option<String>,
) -> Result<Option<String>, crate::error::ApiError> {
    match actor {
        Some(actor) if actor.is_empty() || actor.len() > MAX_ACTOR_LEN => {
            Err(crate::error::ApiError::InvalidRequest(format!(
                "actor must be a key's name of 1 to {MAX_ACTOR_LEN} bytes"
            )))
        }
        actor => Ok(actor),
    }
}
