#!/usr/bin/env bash
# Execution logging under the foundation's execute load, in one run, side by side:
#   ours      codexcontinue serve, built-ins only, every execution appended to a fresh SQLite
#             file (default settings: WAL, synchronous=NORMAL, group commit) before it is answered
#   bare      bench/bare-axum: one axum handler doing the same JSON work, no logging
# It builds both in release, starts them on free loopback ports, runs the peer's bench.sh
# (echo and calc bodies at 1, 16 and 64 connections) against each, ROUNDS times in
# alternating order, and prints a markdown table with the ratio and the target (≥ 0.5× bare
# axum at 64 connections), plus the number of executions the store logged.
#
# Usage: bench/logging.sh [DURATION=10s]
# Env:   DURATION, ROUNDS (default 2), CARGO_TARGET_DIR (default ~/.cache/codexcontinue/target),
#        BARE_TARGET_DIR (default ~/.cache/codexcontinue/bench-target), CODEX_SHARED_DIR
#        (default <repo>/../shared), QUIET=1 (passed to bench.sh), KEEP=1 (keep the work folder),
#        OURS_BIN (a codexcontinue binary to measure instead of building one, to compare builds).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
check_settings "${1:-${DURATION:-10s}}"
START_LIMIT=30
command -v wrk >/dev/null || { echo "error: wrk not found (apt-get install wrk, or run bench/run.sh once)" >&2; exit 2; }

make_work codex-logging
build_ours
build_bare

DB="$WORK/logging.db"
OURS_PORT=$(free_port)
start_ours "$OURS_PORT" --database-url "sqlite://$DB"
wait_ready ours "$OURS_PID" "$OURS_PORT" "$START_LIMIT"
BARE_PORT=$(free_port)
start_bare "$BARE_PORT"
wait_ready bare "$BARE_PID" "$BARE_PORT" "$START_LIMIT"

for round in $(seq "$ROUNDS"); do
  order="ours bare"; (( round % 2 == 0 )) && order="bare ours"
  for name in $order; do
    case $name in
      ours) pid=$OURS_PID port=$OURS_PORT ;;
      bare) pid=$BARE_PID port=$BARE_PORT ;;
    esac
    log "round $round/$ROUNDS: bench.sh against $name ($DURATION per run)"
    SERVER_PID=$pid OUTDIR="$WORK/wrk/$name/r$round" "$PEER/bench.sh" "http://127.0.0.1:$port" "$DURATION" \
      | tee "$WORK/$name.r$round.txt" >&2
  done
done
for name in ours bare; do best_of "$name"; done
# Every answered execution is in the log: its last seq is their number.
LOGGED=$(curl -sf "http://127.0.0.1:$OURS_PORT/sessions" | python3 -c '
import json, sys, urllib.request
port = sys.argv[1]
total = 0
for s in json.load(sys.stdin)["sessions"]:
    url = f"http://127.0.0.1:{port}/plugin-logs/{s}?limit=10000"
    while True:
        page = json.load(urllib.request.urlopen(url))
        total += len(page["logs"])
        if page["next_before"] is None: break
        before = page["next_before"]
        url = f"http://127.0.0.1:{port}/plugin-logs/{s}?limit=10000&before={before}"
print(total)' "$OURS_PORT" || echo "n/a")

# The writer's own counters: how many events a commit shared on average over the whole run.
BATCH=$(curl -sf "http://127.0.0.1:$OURS_PORT/health" | python3 -c '
import json, sys
s = json.load(sys.stdin)["store"]
e, c = s["events"], s["commits"]
print("%d events in %d commits, %.1f per commit" % (e, c, e / max(1, c)))' || echo "n/a")

echo
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(uname -m); wrk on the same cores; ${DURATION} per cell, the least disturbed of $ROUNDS rounds."
echo "Command: \`ROUNDS=$ROUNDS bench/logging.sh $DURATION\` ($(commit_note))."
echo
echo "| body | conns | ours + SQLite log req/s | bare axum req/s | ours/bare | ours p50 ms | ours p99 ms | bare p99 ms | non-2xx (ours) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for body in echo calc; do
  for c in 1 16 64; do
    o=$(field ours $body $c 3); b=$(field bare $body $c 3)
    echo "| $body | $c | $(num "$o") | $(num "$b") | $(ratio "$o" "$b") | $(ms "$(field ours $body $c 4)") \
| $(ms "$(field ours $body $c 5)") | $(ms "$(field bare $body $c 5)") | $(field ours $body $c 6) |"
  done
done
echo
echo "Executions logged by ours during the run (read back through /plugin-logs): $LOGGED."
echo "Group commit, from ours' /health: $BATCH."
echo
echo "Echo at 64 connections, round by round (ours then bare in odd rounds, bare then ours in even ones):"
echo
echo "| round | ours req/s | bare req/s | ours/bare | foreign CPU s (ours/bare) |"
echo "|---:|---:|---:|---:|---|"
for round in $(seq "$ROUNDS"); do
  for name in ours bare; do
    awk '$1 == "echo" && $2 == 64' "$WORK/$name.r$round.txt" > "$WORK/$name.round.txt"
  done
  o=$(field ours.round echo 64 3); b=$(field bare.round echo 64 3)
  echo "| $round | $(num "$o") | $(num "$b") | $(ratio "$o" "$b") | $(field ours.round echo 64 7) / $(field bare.round echo 64 7) |"
done
o=$(field ours echo 64 3); b=$(field bare echo 64 3); r=$(ratio "$o" "$b")
echo
echo "| target (echo, 64 connections) | measured | verdict |"
echo "|---|---:|---|"
echo "| ≥ 0.5× bare axum req/s, with execution logging on SQLite | ${r}× | $(awk -v x="$r" 'BEGIN{print (x+0 >= 0.5) ? "met" : "MISSED"}') |"
