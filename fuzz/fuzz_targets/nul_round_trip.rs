//! Fuzz target `nul_round_trip`: see `codex_store::fuzzing::nul_round_trip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| codex_store::fuzzing::nul_round_trip(data));
