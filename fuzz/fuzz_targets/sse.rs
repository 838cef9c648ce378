//! Fuzz target `sse`: see `codex_agent::chat::fuzzing::sse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| codex_agent::chat::fuzzing::sse(data));
