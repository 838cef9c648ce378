//! Route handlers, one module per resource; `router.rs` lists every path.

pub mod chat;
pub mod memory;
pub mod openai;
pub mod original;
pub mod plugins;
pub mod sessions;
pub mod system;
