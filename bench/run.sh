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
ROOT="$(git -C "$HERE" rev-parse --show-toplevel)"
SHARED="${CODEX_SHARED_DIR:-$ROOT/../shared}"
PEER="$SHARED/bench/peer_fastapi"
DURATION="${1:-${DURATION:-10s}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/codexcontinue/target}"
BARE_TARGET_DIR="${BARE_TARGET_DIR:-$HOME/.cache/codexcontinue/bench-target}"
ROUNDS="${ROUNDS:-2}"
BUILD_LIMIT=2400   # seconds per cargo build; the 2 cores are shared
START_LIMIT=30     # seconds for a Rust server to answer
PEER_START_LIMIT=300   # seconds for the reference (its first start creates a venv)

[[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
[[ "$DURATION" =~ ^[0-9]+s$ ]] || { echo "error: DURATION must be whole seconds, like 10s" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || { echo "error: ROUNDS must be 1 to 99" >&2; exit 2; }
[ -x "$PEER/bench.sh" ] || { echo "error: $PEER/bench.sh not found; set CODEX_SHARED_DIR" >&2; exit 2; }

WORK="$(mktemp -d /tmp/codex-bench.XXXXXX)"
mkdir -p "$WORK/plugins" "$WORK/wrk"
PIDS=()

# Stops every server this script started: SIGTERM to the process, bounded wait, then
# SIGKILL to it and whatever it spawned (uvicorn's workers).
stop_all() {
  local pid i tree
  for pid in "${PIDS[@]}"; do
    tree="$(pstree -pT "$pid" 2>/dev/null | grep -o '([0-9]\+)' | tr -d '()' || true)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    for p in $tree; do kill -9 "$p" 2>/dev/null || true; done
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

log() { echo "== $*" >&2; }

# ---- build -------------------------------------------------------------------------------
log "building codexcontinue (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT" && timeout "$BUILD_LIMIT" cargo build --release -p codexcontinue) >&2
OURS_BIN="$CARGO_TARGET_DIR/release/codexcontinue"
log "building bench/bare-axum (release, target $BARE_TARGET_DIR)"
(cd "$HERE/bare-axum" && CARGO_TARGET_DIR="$BARE_TARGET_DIR" timeout "$BUILD_LIMIT" cargo build --release --locked) >&2
BARE_BIN="$BARE_TARGET_DIR/release/bare-axum"

# ---- tools -------------------------------------------------------------------------------
need_pkg() {   # need_pkg COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null && return
  log "installing $2"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  timeout 300 $sudo apt-get install -y -q "$2" >&2 \
    || { timeout 300 $sudo apt-get update -q >&2 && timeout 300 $sudo apt-get install -y -q "$2" >&2; }
}
need_pkg wrk wrk
need_pkg pstree psmisc

# ---- servers -----------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ECHO_BODY='{"plugin": "echo", "data": "hello"}'

# wait_ready NAME PID PORT LIMIT: polls the execute route until it answers 2xx, the server
# exits, or LIMIT seconds pass. Prints the first answer.
wait_ready() {
  local name=$1 pid=$2 port=$3 limit=$4 deadline answer
  deadline=$(( SECONDS + limit ))
  while (( SECONDS < deadline )); do
    kill -0 "$pid" 2>/dev/null || { echo "error: $name exited; log:" >&2; tail -20 "$WORK/$name.log" >&2; exit 1; }
    if answer="$(curl -sf -m 2 -H 'Content-Type: application/json' -d "$ECHO_BODY" \
        "http://127.0.0.1:$port/api/plugins/execute")"; then
      log "$name ready on 127.0.0.1:$port (pid $pid): $answer"
      return
    fi
    sleep 0.2
  done
  echo "error: $name did not answer within ${limit}s; log:" >&2; tail -20 "$WORK/$name.log" >&2; exit 1
}

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
# Run from the work directory so no ./codexcontinue.toml is picked up; default settings.
(cd "$WORK" && exec env -u CODEX_CONFIG -u CODEX_BIND -u CODEX_PLUGINS_DIR -u RUST_LOG \
  "$OURS_BIN" serve --bind "127.0.0.1:$OURS_PORT" --plugins-dir "$WORK/plugins") > "$WORK/ours.log" 2>&1 &
OURS_PID=$!; PIDS+=("$OURS_PID")
wait_ready ours "$OURS_PID" "$OURS_PORT" "$START_LIMIT"
OURS_RSS=$(settled_rss_kib "$OURS_PID")

BARE_PORT=$(free_port)
"$BARE_BIN" "$BARE_PORT" > "$WORK/bare.log" 2>&1 &
BARE_PID=$!; PIDS+=("$BARE_PID")
wait_ready bare "$BARE_PID" "$BARE_PORT" "$START_LIMIT"
BARE_RSS=$(settled_rss_kib "$BARE_PID")

PEER_PORT=$(free_port)
"$PEER/run.sh" "$PEER_PORT" 2 > "$WORK/fastapi.log" 2>&1 &
PEER_PID=$!; PIDS+=("$PEER_PID")
wait_ready fastapi "$PEER_PID" "$PEER_PORT" "$PEER_START_LIMIT"
# uvicorn answers as soon as one worker is up; wait (bounded) until its supervisor, the
# resource tracker and both workers exist, then for their memory to settle.
for _ in $(seq 100); do
  [ "$(pstree -pT "$PEER_PID" | grep -o '([0-9]\+)' | wc -l)" -ge 4 ] && break; sleep 0.1
done
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
for name in ours bare fastapi; do
  awk '($1 == "echo" || $1 == "calc") && $2 ~ /^[0-9]+$/ {
         k = $1 " " $2; f = ($7 == "n/a") ? 0 : $7 + 0
         if (!(k in best) || f < best[k]) { best[k] = f; line[k] = $0 }
       } END { for (k in line) print line[k] }' "$WORK/$name".r*.txt > "$WORK/$name.txt"
done
OURS_RSS_LOADED=$(rss_kib "$OURS_PID")

# ---- report ------------------------------------------------------------------------------
# field FILE BODY CONNS COLUMN: one figure from a bench.sh result table
# (columns: body conns req/s p50 p99 non2xx foreign_s sirq_s try).
field() { awk -v b="$2" -v c="$3" -v k="$4" '$1==b && $2==c {print $k}' "$WORK/$1.txt"; }
# wrk latencies come as 749.00us, 3.19ms or 1.02s; in milliseconds.
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.2f", v/1000; else if (v ~ /ms$/) printf "%.2f", v+0;
  else if (v ~ /s$/) printf "%.2f", v*1000; else printf "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "n/a" }'; }
num() { awk -v v="$1" 'BEGIN{ if (v+0 > 0) printf "%.0f", v; else printf "FAIL" }'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

echo
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(uname -m); wrk on the same cores; ${DURATION} per cell, the least disturbed of $ROUNDS rounds."
echo "Command: \`ROUNDS=$ROUNDS bench/run.sh $DURATION\` (commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- crates 2>/dev/null || echo ', crates/ with uncommitted changes'))."
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
