//! A session's work: plugin calls logged to the event store, and the store seen as memory.
//!
//! Later this crate also holds the chat turn (`/run` dispatch, model providers, the tool loop).
//! It knows no HTTP: callers at the edge map [`ExecuteError`] to their own errors.

mod executor;
mod memory;

pub use executor::{ExecuteError, Executor, LoggedExecution, error_code};
pub use memory::{DEFAULT_SHORT_LIMIT, StoreMemory};
