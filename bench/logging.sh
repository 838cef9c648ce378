#!/usr/bin/env bash
# Execution logging under the foundation's execute load, in one run, side by side:
#   ours      codexcontinue serve, built-ins only, every execution appended to a fresh SQLite
#             file (synchronous=FULL, group commit) before it is answered
#   bare      bench/bare-axum: one axum handler doing the same JSON work, no logging
# It builds both in release, starts them on free loopback ports, runs the peer's bench.sh
# (echo and calc bodies at 1, 16 and 64 connections) against each, ROUNDS times in
# alternating order, and prints a markdown table with the ratio and the target (≥ 0.5× bare
# axum at 64 connections), plus the number of executions the store logged.
#
# Usage: bench/logging.sh [DURATION=10s]
# Env:   DURATION, ROUNDS (default 2), CARGO_TARGET_DIR (default ~/.cache/codexcontinue/target),
#        BARE_TARGET_DIR (default ~/.cache/codexcontinue/bench-target), CODEX_SHARED_DIR
#        (default <repo>/../shared), QUIET=1 (passed to bench.sh), KEEP=1 (keep the work folder).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(git -C "$HERE" rev-parse --show-toplevel)"
SHARED="${CODEX_SHARED_DIR:-$ROOT/../shared}"
PEER="$SHARED/bench/peer_fastapi"
DURATION="${1:-${DURATION:-10s}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/codexcontinue/target}"
BARE_TARGET_DIR="${BARE_TARGET_DIR:-$HOME/.cache/codexcontinue/bench-target}"
ROUNDS="${ROUNDS:-2}"
BUILD_LIMIT=2400
START_LIMIT=30

[[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
[[ "$DURATION" =~ ^[0-9]+s$ ]] || { echo "error: DURATION must be whole seconds, like 10s" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || { echo "error: ROUNDS must be 1 to 99" >&2; exit 2; }
[ -x "$PEER/bench.sh" ] || { echo "error: $PEER/bench.sh not found; set CODEX_SHARED_DIR" >&2; exit 2; }
command -v wrk >/dev/null || { echo "error: wrk not found (apt-get install wrk, or run bench/run.sh once)" >&2; exit 2; }

WORK="$(mktemp -d /tmp/codex-logging.XXXXXX)"
mkdir -p "$WORK/plugins"
PIDS=()
stop_all() {
  local pid i
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM
log() { echo "== $*" >&2; }

log "building codexcontinue (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT" && timeout "$BUILD_LIMIT" cargo build --release -p codexcontinue) >&2
OURS_BIN="$CARGO_TARGET_DIR/release/codexcontinue"
log "building bench/bare-axum (release, target $BARE_TARGET_DIR)"
(cd "$HERE/bare-axum" && CARGO_TARGET_DIR="$BARE_TARGET_DIR" timeout "$BUILD_LIMIT" cargo build --release --locked) >&2
BARE_BIN="$BARE_TARGET_DIR/release/bare-axum"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_ready() {   # NAME PID PORT
  local deadline=$(( SECONDS + START_LIMIT ))
  while (( SECONDS < deadline )); do
    kill -0 "$2" 2>/dev/null || { echo "error: $1 exited; log:" >&2; tail -20 "$WORK/$1.log" >&2; exit 1; }
    curl -sf -m 2 -H 'Content-Type: application/json' -d '{"plugin": "echo", "data": "ready"}' \
      "http://127.0.0.1:$3/api/plugins/execute" >/dev/null && { log "$1 ready on port $3"; return; }
    sleep 0.2
  done
  echo "error: $1 did not answer within ${START_LIMIT}s" >&2; exit 1
}

DB="$WORK/logging.db"
OURS_PORT=$(free_port)
(cd "$WORK" && exec env -u CODEX_CONFIG -u CODEX_BIND -u CODEX_PLUGINS_DIR -u CODEX_DATABASE_URL -u RUST_LOG \
  "$OURS_BIN" serve --bind "127.0.0.1:$OURS_PORT" --plugins-dir "$WORK/plugins" \
  --database-url "sqlite://$DB") > "$WORK/ours.log" 2>&1 &
OURS_PID=$!; PIDS+=("$OURS_PID")
wait_ready ours "$OURS_PID" "$OURS_PORT"
BARE_PORT=$(free_port)
"$BARE_BIN" "$BARE_PORT" > "$WORK/bare.log" 2>&1 &
BARE_PID=$!; PIDS+=("$BARE_PID")
wait_ready bare "$BARE_PID" "$BARE_PORT"

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
for name in ours bare; do
  awk '($1 == "echo" || $1 == "calc") && $2 ~ /^[0-9]+$/ {
         k = $1 " " $2; f = ($7 == "n/a") ? 0 : $7 + 0
         if (!(k in best) || f < best[k]) { best[k] = f; line[k] = $0 }
       } END { for (k in line) print line[k] }' "$WORK/$name".r*.txt > "$WORK/$name.txt"
done
# Every answered execution is in the log: its last seq is their number.
LOGGED=$(curl -sf "http://127.0.0.1:$OURS_PORT/sessions" | python3 -c '
import json, sys, urllib.request
port = sys.argv[1]
total = 0
for s in json.load(sys.stdin)["sessions"]:
    after, sid = 0, s["id"]
    while True:
        url = f"http://127.0.0.1:{port}/plugin-logs/{sid}?limit=10000&after={after}"
        page = json.load(urllib.request.urlopen(url))
        total += len(page["logs"])
        if page["next_after"] is None: break
        after = page["next_after"]
print(total)' "$OURS_PORT" || echo "n/a")

field() { awk -v b="$2" -v c="$3" -v k="$4" '$1==b && $2==c {print $k}' "$WORK/$1.txt"; }
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.2f", v/1000; else if (v ~ /ms$/) printf "%.2f", v+0;
  else if (v ~ /s$/) printf "%.2f", v*1000; else printf "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "n/a" }'; }
num() { awk -v v="$1" 'BEGIN{ if (v+0 > 0) printf "%.0f", v; else printf "FAIL" }'; }

echo
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(uname -m); wrk on the same cores; ${DURATION} per cell, the least disturbed of $ROUNDS rounds."
echo "Command: \`ROUNDS=$ROUNDS bench/logging.sh $DURATION\` (commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- crates 2>/dev/null || echo ', crates/ with uncommitted changes'))."
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
o=$(field ours echo 64 3); b=$(field bare echo 64 3); r=$(ratio "$o" "$b")
echo
echo "| target (echo, 64 connections) | measured | verdict |"
echo "|---|---:|---|"
echo "| ≥ 0.5× bare axum req/s, with execution logging on SQLite | ${r}× | $(awk -v x="$r" 'BEGIN{print (x+0 >= 0.5) ? "met" : "MISSED"}') |"
