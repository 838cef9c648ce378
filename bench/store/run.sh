#!/usr/bin/env bash
# Runs the store benchmark (appends/s under 64 concurrent sessions; audit latency on a
# 100,000-event session) on SQLite and on a throwaway PostgreSQL, and records the output.
# Extra arguments go to the benchmark (see crates/codex-store/examples/store_bench.rs).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bash "$root/scripts/ensure-postgres.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/codexcontinue/target}
cd "$root"
cargo build --release -q -p codex-store --features test-support --example store_bench
"$CARGO_TARGET_DIR/release/examples/store_bench" "$@" | tee "$root/bench/store/results_2core.txt"
