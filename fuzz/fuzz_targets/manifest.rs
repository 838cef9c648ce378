//! Fuzz target `manifest`: see `codex_host::fuzzing::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| codex_host::fuzzing::manifest(data));
