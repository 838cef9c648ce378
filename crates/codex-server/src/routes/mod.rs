//! Route handlers, one module per resource; `router.rs` lists every path.

pub mod memory;
pub mod plugins;
pub mod sessions;
pub mod system;
