#!/usr/bin/env bash
# Load benchmark of POST /api/plugins/execute, in one run, side by side:
#   ours      codexcontinue serve, built-ins only (an empty plugins folder); since issue 4 it
#             logs every execution to SQLite (codexcontinue.db in the work directory)
#   bare      bench/bare-axum: one axum handler doing the same JSON work, nothing else
#   fastapi   the reference of ../shared/bench/peer_fastapi with 2 workers
# It builds both Rust servers in release, installs wrk if missing, starts the three servers
# on free loopback ports, records their idle RSS, runs the peer's bench.sh (echo and calc
# bodies at 1, 16 and 64 connections) against each in turn, and prints a markdown table
# with the ratios and whether the foundation targets are met. Every server is stopped on exit.
#
# Usage: bench/run.sh [DURATION=10s]
# Env:   DURATION (same as the argument), ROUNDS (default 2: bench.sh rounds per server; per
#        cell the least disturbed run is reported), CARGO_TARGET_DIR (main workspace build,
#        default ~/.cache/codexcontinue/target), BARE_TARGET_DIR (bare-axum build, default
#        ~/.cache/codexcontinue/bench-target), CODEX_SHARED_DIR (default <repo>/../shared),
#        QUIET=1 (passed to bench.sh: wait for an idle machine and redo disturbed runs),
#        KEEP=1 (keep the work directory with logs and raw wrk output).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
check_settings "${1:-${DURATION:-10s}}"
START_LIMIT=30     # seconds for a Rust server to answer
PEER_START_LIMIT=300   # seconds for the reference (its first start creates a venv)

make_work codex-bench

# ---- build -------------------------------------------------------------------------------
build_ours
build_bare

# ---- tools -------------------------------------------------------------------------------
need_pkg wrk wrk
need_pkg pstree psmisc

# ---- servers -----------------------------------------------------------------------------
rss_kib() { "$PEER/rss.sh" "$1" | awk '/^total_rss_kib/{print $2}'; }
# Idle RSS once start-up has settled: polls until two readings 0.5 s apart differ by
# under 1% (at most 10 s), so a worker still importing is not caught half-grown.
settled_rss_kib() {
  local a b i
  a=$(rss_kib "$1")
  for i in $(seq 20); do
    sleep 0.5; b=$(rss_kib "$1")
    awk -v a="$a" -v b="$b" 'BEGIN{ d = b - a; if (d < 0) d = -d; exit !(d * 100 < b) }' && break
    a=$b
  done
  echo "$b"
}
# The largest single process of a tree (one uvicorn worker, for the reference).
rss_max_kib() { "$PEER/rss.sh" "$1" | awk '/^pid/{if ($4 > m) m = $4} END{print m+0}'; }

OURS_PORT=$(free_port)
# Default settings: ours logs to codexcontinue.db in the work directory.
start_ours "$OURS_PORT"
wait_ready ours "$OURS_PID" "$OURS_PORT" "$START_LIMIT"
OURS_RSS=$(settled_rss_kib "$OURS_PID")

BARE_PORT=$(free_port)
start_bare "$BARE_PORT"
wait_ready bare "$BARE_PID" "$BARE_PORT" "$START_LIMIT"
BARE_RSS=$(settled_rss_kib "$BARE_PID")

PEER_PORT=$(free_port)
start_peer "$PEER_PORT" "$PEER_START_LIMIT"
PEER_RSS=$(settled_rss_kib "$PEER_PID")
PEER_WORKER_RSS=$(rss_max_kib "$PEER_PID")

# ---- load --------------------------------------------------------------------------------
# Each round runs bench.sh against the three servers in turn, the order reversed every other
# round so slow drifts in background load do not always favour the same server. Per server
# and cell, the run least disturbed by other processes (lowest foreign_s) is kept.
for round in $(seq "$ROUNDS"); do
  order="ours bare fastapi"; (( round % 2 == 0 )) && order="fastapi bare ours"
  for name in $order; do
    case $name in
      ours) pid=$OURS_PID port=$OURS_PORT ;;
      bare) pid=$BARE_PID port=$BARE_PORT ;;
      fastapi) pid=$PEER_PID port=$PEER_PORT ;;
    esac
    log "round $round/$ROUNDS: bench.sh against $name (duration $DURATION per run)"
    SERVER_PID=$pid OUTDIR="$WORK/wrk/$name/r$round" "$PEER/bench.sh" "http://127.0.0.1:$port" "$DURATION" \
      | tee "$WORK/$name.r$round.txt" >&2
  done
done
for name in ours bare fastapi; do best_of "$name"; done
OURS_RSS_LOADED=$(rss_kib "$OURS_PID")

# ---- report ------------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

echo
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(uname -m); wrk on the same cores; ${DURATION} per cell, the least disturbed of $ROUNDS rounds."
echo "Command: \`ROUNDS=$ROUNDS bench/run.sh $DURATION\` ($(commit_note))."
echo
echo "| body | conns | ours req/s | bare axum req/s | FastAPI×2 req/s | ours/bare | ours/FastAPI | ours p99 ms | bare p99 ms | FastAPI p99 ms | foreign CPU s (ours/bare/FastAPI) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for body in echo calc; do
  for c in 1 16 64; do
    o=$(field ours $body $c 3); b=$(field bare $body $c 3); f=$(field fastapi $body $c 3)
    echo "| $body | $c | $(num "$o") | $(num "$b") | $(num "$f") | $(ratio "$o" "$b") | $(ratio "$o" "$f") \
| $(ms "$(field ours $body $c 5)") | $(ms "$(field bare $body $c 5)") | $(ms "$(field fastapi $body $c 5)") \
| $(field ours $body $c 7) / $(field bare $body $c 7) / $(field fastapi $body $c 7) |"
  done
done
echo
echo "Idle RSS (after start and one request, before load): ours $(mib "$OURS_RSS") MiB;" \
  "bare axum $(mib "$BARE_RSS") MiB; FastAPI×2 $(mib "$PEER_RSS") MiB in all" \
  "(largest process $(mib "$PEER_WORKER_RSS") MiB). Ours after the load: $(mib "$OURS_RSS_LOADED") MiB."
echo

# Targets, on echo at 64 connections.
o=$(field ours echo 64 3); b=$(field bare echo 64 3); f=$(field fastapi echo 64 3); p=$(ms "$(field ours echo 64 5)")
verdict() { awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN{ ok = (op == ">=") ? (x+0 >= t) : (x+0 < t); print ok ? "met" : "MISSED" }'; }
echo "| target (echo, 64 connections) | measured | verdict |"
echo "|---|---:|---|"
echo "| ≥ 0.6× bare axum req/s | $(ratio "$o" "$b")× | $(verdict "$(ratio "$o" "$b")" ">=" 0.6) |"
echo "| ≥ 10× FastAPI (2 workers) req/s | $(ratio "$o" "$f")× | $(verdict "$(ratio "$o" "$f")" ">=" 10) |"
echo "| p99 < 5 ms | $p ms | $(verdict "$p" "<" 5) |"
echo "| idle RSS < 15 MiB | $(mib "$OURS_RSS") MiB | $(verdict "$(mib "$OURS_RSS")" "<" 15) |"
