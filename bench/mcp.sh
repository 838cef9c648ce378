#!/usr/bin/env bash
# Per-call cost of an MCP tool next to a native and a Wasm plugin, in one run, through
# POST /api/plugins/execute of one server:
#   echo             the built-in native echo
#   wasm_echo        examples/plugins/wasm_echo (Extism)
#   everything_echo  the `echo` tool of @modelcontextprotocol/server-everything (npm, Node.js,
#                    over stdio), configured as [mcp.servers.everything]
# wrk -t2 -c$CONNS per target, ROUNDS rounds in alternating order, the least disturbed run
# kept per target. Prints a markdown table with req/s, p50 and p99, and the mean added cost
# per call at 1 connection (latency minus the native echo's). Servers stop on exit.
#
# Usage: bench/mcp.sh [DURATION=10s]
# Env:   DURATION, ROUNDS (default 2), CONNS (default 64), CARGO_TARGET_DIR, KEEP=1,
#        CODEX_TEST_NPM (where scripts/ensure-test-tools.sh installed server-everything).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
DURATION=${1:-${DURATION:-10s}}
[[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
[[ "$DURATION" =~ ^[0-9]+s$ ]] || { echo "error: DURATION must be whole seconds, like 10s" >&2; exit 2; }
CONNS="${CONNS:-64}"
START_LIMIT=60

make_work codex-bench-mcp

build_ours
log "building the example Wasm plugins"
"$ROOT/scripts/build-wasm-examples.sh" "$WORK/wasm" >&2
cp "$WORK/wasm/wasm_echo_plugin.wasm" "$WORK/plugins/"
NPM_DIR="$("$ROOT/scripts/ensure-test-tools.sh" | sed -n 's/^CODEX_TEST_NPM=//p')"
EVERYTHING="$NPM_DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
cat > "$WORK/codexcontinue.toml" <<TOML
[mcp.servers.everything]
command = "node"
args = ["$EVERYTHING", "stdio"]
TOML
need_pkg wrk wrk
need_pkg pstree psmisc

PORT=$(free_port)
start_ours "$PORT" --config "$WORK/codexcontinue.toml"
wait_ready ours "$OURS_PID" "$PORT" "$START_LIMIT" echo
wait_ready ours "$OURS_PID" "$PORT" "$START_LIMIT" wasm_echo
# wait_ready sends "hello" as data; the MCP tool takes {"message": ...}.
deadline=$(( SECONDS + START_LIMIT ))
until curl -sf -m 2 -H 'Content-Type: application/json' \
    -d '{"plugin": "everything__echo", "data": {"message": "hello"}}' \
    "http://127.0.0.1:$PORT/api/plugins/execute" >/dev/null; do
  (( SECONDS < deadline )) || { echo "error: everything__echo not ready; log:" >&2; tail -20 "$WORK/ours.log" >&2; exit 1; }
  sleep 0.2
done
log "everything__echo answers"

LIMIT=$(( ${DURATION%s} + 15 ))
# one TARGET ROUND CONNS: appends "target conns req/s p50 p99 non2xx" to results.
one() {
  local target=$1 round=$2 conns=$3 plugin data out
  case $target in
    echo) plugin=echo data='"hello"' ;;
    wasm_echo) plugin=wasm_echo data='"hello"' ;;
    everything_echo) plugin=everything__echo data='{"message": "hello"}' ;;
  esac
  out="$WORK/wrk/$target.c$conns.r$round.txt"
  BENCH_PLUGIN=$plugin BENCH_DATA=$data timeout -k 5 "$LIMIT" wrk -t1 -c"$conns" -d"$DURATION" \
    --timeout 5s --latency -s "$HERE/plugins.lua" "http://127.0.0.1:$PORT/api/plugins/execute" \
    > "$out" 2>&1 || true
  echo "$target $conns $(awk '/^Requests\/sec:/{print $2}' "$out") $(awk '$1=="50%"{print $2}' "$out") \
$(awk '$1=="99%"{print $2}' "$out") $(awk '/Non-2xx/{n=$NF} END{print n+0}' "$out")" >> "$WORK/results.txt"
  log "round $round: $(tail -1 "$WORK/results.txt")"
}
TARGETS="echo wasm_echo everything_echo"
for round in $(seq "$ROUNDS"); do
  order=$TARGETS; (( round % 2 == 0 )) && order="$(echo $TARGETS | tr ' ' '\n' | tac | tr '\n' ' ')"
  for conns in 1 "$CONNS"; do
    for target in $order; do one "$target" "$round" "$conns"; done
  done
done
# Per target and connections, the fastest run (the least disturbed on a shared machine).
awk '{ k = $1 " " $2; if (!(k in best) || $3 > best[k]) { best[k] = $3; line[k] = $0 } }
     END { for (k in line) print line[k] }' "$WORK/results.txt" > "$WORK/best.txt"
get() { awk -v t="$1" -v c="$2" -v k="$3" '$1==t && $2==c {print $k}' "$WORK/best.txt"; }

echo
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores; wrk -t1 on the same cores; ${DURATION} per run, the best of $ROUNDS rounds."
echo "Command: \`ROUNDS=$ROUNDS bench/mcp.sh $DURATION\` ($(commit_note))."
echo
echo "| target | conns | req/s | p50 ms | p99 ms | non-2xx | µs per call at 1 conn | vs native echo |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
base=$(get echo 1 3)
for conns in 1 "$CONNS"; do
  for target in $TARGETS; do
    rps=$(get "$target" "$conns" 3)
    per=""; [ "$conns" = 1 ] && per=$(awk -v r="$rps" 'BEGIN{ if (r+0 > 0) printf "%.0f", 1e6/r; else print "n/a" }')
    echo "| $target | $conns | $rps | $(ms "$(get "$target" "$conns" 4)") | $(ms "$(get "$target" "$conns" 5)") | $(get "$target" "$conns" 6) | $per | $(ratio "$rps" "$(get echo "$conns" 3)")× |"
  done
done
echo
echo "Added cost of an MCP call over native echo at 1 connection: $(awk -v a="$(get everything_echo 1 3)" -v b="$base" 'BEGIN{ if (a+0>0 && b+0>0) printf "%.0f µs", 1e6/a - 1e6/b; else print "n/a" }')."
