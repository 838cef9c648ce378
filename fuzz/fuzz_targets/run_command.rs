//! Fuzz target `run_command`: see `codex_agent::chat::fuzzing::run_command`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| codex_agent::chat::fuzzing::run_command(data));
