//! A session's work: plugin calls logged to the event store, and the store seen as memory.
//!
//! The chat turn ([`chat`]: `/run` dispatch, the model provider chain, the tool loop) lives
//! here too, with the OpenAI wire types it speaks ([`openai`]).
//! It knows no HTTP: callers at the edge map [`ExecuteError`] to their own errors.

pub mod approvals;
pub mod chat;
mod executor;
mod memory;
pub mod openai;
pub mod plugins;
pub mod running;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use approvals::{Answer, ApprovalError, ApprovalInfo, Approvals, Pending};
pub use chat::{
    Chat, ChatConfig, ChatError, ModelStatus, ProviderConfig, ProviderStatus, Step, TurnEvent,
    TurnReply,
};
pub use executor::{ExecuteError, Executor, LoggedExecution};
pub use memory::{DEFAULT_SHORT_LIMIT, StoreMemory};
pub use running::{CancelError, Registration, RunInfo, RunKind, Running};
