//! Fuzz target `json_rpc_lines`: see `codex_host::fuzzing::json_rpc_lines`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| codex_host::fuzzing::json_rpc_lines(data));
