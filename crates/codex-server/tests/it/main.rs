//! Integration tests of the HTTP surface, through the real router with real plugins.

mod app;
mod errors;
mod limits;
mod memory;
mod openapi;
mod plugins;
mod server;
