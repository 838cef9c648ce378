//! Integration tests of the HTTP surface, through the real router with real plugins.

mod access;
mod analytics;
mod app;
mod approvals;
mod cancel;
mod chat;
mod errors;
mod limits;
mod mcp_plugins;
mod memory;
mod observability;
mod openai;
mod openapi;
mod original;
mod plugins;
mod progress;
mod scripted;
mod server;
mod web;
