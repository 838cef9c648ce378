#!/usr/bin/env bash
# Analytics and execution-log benchmark on SQLite: fills a temporary file with 1,000,000 plugin
# executions spread over 60 days (written as the first schema held them, then backfilled by the
# migration), and times the 30-day analytics query, the execution log's pages with and without
# filters, the timeline by kind and the session list (p50 and p99 over --runs runs).
# Extra arguments go to the benchmark (see crates/codex-store/examples/analytics_bench.rs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/codexcontinue/target}
cd "$root"
cargo run --release -q -p codex-store --features test-support --example analytics_bench -- "$@" \
    | tee "$root/bench/analytics-results.txt"
