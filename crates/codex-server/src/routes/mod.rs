//! Route handlers, one module per resource; `router.rs` lists every path.

pub mod plugins;
pub mod system;
