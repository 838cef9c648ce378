//! Route handlers, one module per resource; `router.rs` lists every path.

pub mod analytics;
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
