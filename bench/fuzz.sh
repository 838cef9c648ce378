#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers (fuzz/, libFuzzer through libfuzzer-sys), each target
# for a bounded time, on stable rustc: the targets are built with cargo-fuzz's own flags for
# `--sanitizer none` (SanitizerCoverage's inline 8-bit counters, PC table and comparison
# tracing, `--cfg fuzzing`, debug assertions and overflow checks), which need no nightly.
#   bench/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   default 100 s for each of the six targets
#                                                    (10 minutes in all); or the targets named
# Each target starts from fuzz/corpus/<target> and the inputs that once failed
# (fuzz/regressions/<target>); new inputs that add coverage are merged into the corpus (kept
# minimal with libFuzzer's -merge=1), which the crates' tests replay without a fuzzing build.
# A crash is saved under fuzz/artifacts/<target>/ and the run goes on with the next target.
# The figures (executions, coverage, corpus, crashes) go to bench/results/fuzz-<time>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
per_target="${1:-100}"
targets=(calculator manifest json_rpc_lines sse nul_round_trip run_command)
if [ "$#" -gt 1 ]; then
    targets=("${@:2}")
fi

export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros, which would not link
# with the coverage instrumentation (cargo-fuzz does the same).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --target "$host" --manifest-path fuzz/Cargo.toml --bins >&2
target_dir=$(cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
target_dir="$target_dir/$host"

results="bench/results/fuzz-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$results"
summary="$results/summary.txt"
printf '%-16s %12s %10s %8s %8s %8s %8s\n' target executions exec/s cov features corpus crashes > "$summary"
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    mkdir -p "$corpus" "$artifacts" "fuzz/regressions/$target"
    found="$results/$target-found"
    mkdir -p "$found"
    log="$results/$target.log"
    echo "fuzzing $target for ${per_target}s" >&2
    # New inputs go to a scratch folder; the saved corpus and the regressions are read only.
    status=0
    "$target_dir/release/$target" "$found" "$corpus" "fuzz/regressions/$target" \
        -max_total_time="$per_target" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" > "$log" 2>&1 || status=$?
    # Keep only the inputs that add coverage over the saved corpus.
    "$target_dir/release/$target" -merge=1 "$corpus" "$found" > "$results/$target-merge.log" 2>&1 || true
    rm -rf "$found"
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo 0)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo 0)
    files=$(find "$corpus" -type f | wc -l)
    crashes=0
    if [ "$status" -ne 0 ]; then
        crashes=$(find "$artifacts" -type f | wc -l)
        echo "$target stopped with status $status; see $log and $artifacts" >&2
    fi
    printf '%-16s %12s %10s %8s %8s %8s %8s\n' "$target" "${runs:-0}" "${speed:-0}" "${cov:-0}" "${ft:-0}" "$files" "$crashes" >> "$summary"
done
cat "$summary"
echo "results in $results" >&2
