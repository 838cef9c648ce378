//! Fuzz target `calculator`: see `codex_builtins::fuzzing::calculator`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| codex_builtins::fuzzing::calculator(data));
