#!/usr/bin/env bash
# Load benchmark of dynamic plugins through POST /api/plugins/execute, in one run, side by side:
#   echo       ours, the built-in native echo
#   wasm_echo  ours, examples/plugins/wasm_echo built to wasm_echo_plugin.wasm (Extism)
#   py_echo    ours, plugins/py_echo_plugin.py with its manifest ([python] pool_size = 2 workers)
#   fastapi    the reference of ../shared/bench/peer_fastapi with 2 workers, its echo plugin
# It builds our server in release and the Wasm examples, starts ours with a plugins folder
# holding the two echo plugins and the reference with 2 workers, then runs wrk -t2 -c64 with
# bench/plugins.lua against each target in turn, ROUNDS times (order reversed every other
# round), keeping per target the run least disturbed by other processes (foreign CPU-seconds,
# computed as the reference's bench.sh does). Prints a markdown table and the two targets:
# Wasm echo >= 0.5x native echo, Python echo >= 2x FastAPI (2 workers). Servers stop on exit.
#
# Usage: bench/plugins.sh [DURATION=10s]
# Env:   DURATION, ROUNDS (default 2), CARGO_TARGET_DIR (default ~/.cache/codexcontinue/target),
#        CODEX_SHARED_DIR (default <repo>/../shared), CONNS (default 64), KEEP=1 (keep logs),
#        DATABASE_URL (passed to ours as --database-url; default: the default sqlite file in
#        the work directory, as bench/run.sh). Every call appends an execution event whose
#        commit waits for the disk, so DATABASE_URL=sqlite:///dev/shm/codex-bench.db shows
#        what the runtimes cost with the store off the disk.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
check_settings "${1:-${DURATION:-10s}}"
CONNS="${CONNS:-64}"
START_LIMIT=60        # ours loads a Wasm module and starts Python workers
PEER_START_LIMIT=300  # the reference's first start creates a venv

make_work codex-bench-plugins

# ---- build -------------------------------------------------------------------------------
build_ours
log "building the example Wasm plugins"
"$ROOT/scripts/build-wasm-examples.sh" "$WORK/wasm" >&2
cp "$WORK/wasm/wasm_echo_plugin.wasm" "$WORK/plugins/"
cp "$ROOT/plugins/py_echo_plugin.py" "$ROOT/plugins/py_echo_plugin.toml" "$WORK/plugins/"

need_pkg wrk wrk
need_pkg pstree psmisc

# ---- servers -----------------------------------------------------------------------------
OURS_PORT=$(free_port)
DB_ARGS=(); [ -n "${DATABASE_URL:-}" ] && DB_ARGS=(--database-url "$DATABASE_URL")
start_ours "$OURS_PORT" "${DB_ARGS[@]}"
for plugin in echo wasm_echo py_echo; do wait_ready ours "$OURS_PID" "$OURS_PORT" "$START_LIMIT" "$plugin"; done

PEER_PORT=$(free_port)
start_peer "$PEER_PORT" "$PEER_START_LIMIT"

# ---- load --------------------------------------------------------------------------------
HZ=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$9}' /proc/stat; }
tree_cpu() { local s=0 p; for p in $(pstree -pT "$1" | grep -o '([0-9]\+)' | tr -d '()'); do
  s=$(( s + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0) )); done; echo $s; }
kids() { times | awk 'NR==2{split($1,a,/[ms]/);split($2,b,/[ms]/);print a[1]*60+a[2]+b[1]*60+b[2]}'; }
LIMIT=$(( ${DURATION%s} + 15 ))

# one TARGET ROUND: one wrk run; appends "target req/s p99 non2xx foreign_s" to results.
one() {
  local target=$1 round=$2 pid port plugin out b0 s0 k0 b1 s1 k1 foreign
  case $target in
    fastapi) pid=$PEER_PID port=$PEER_PORT plugin=echo ;;
    *) pid=$OURS_PID port=$OURS_PORT plugin=$target ;;
  esac
  out="$WORK/wrk/$target.r$round.txt"
  b0=$(busy); s0=$(tree_cpu "$pid"); k0=$(kids)
  BENCH_PLUGIN=$plugin timeout -k 5 "$LIMIT" wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 5s --latency \
    -s "$HERE/plugins.lua" "http://127.0.0.1:$port/api/plugins/execute" > "$out" 2>&1 || true
  b1=$(busy); s1=$(tree_cpu "$pid"); k1=$(kids)
  foreign=$(awk -v b=$((b1-b0)) -v s=$((s1-s0)) -v k0="$k0" -v k1="$k1" -v hz="$HZ" \
    'BEGIN{printf "%.1f", (b-s)/hz-(k1-k0)}')
  echo "$target $(awk '/^Requests\/sec:/{print $2}' "$out") $(awk '$1=="99%"{print $2}' "$out") \
$(awk '/Non-2xx/{n=$NF} END{print n+0}' "$out") $foreign" >> "$WORK/results.txt"
  log "round $round: $(tail -1 "$WORK/results.txt")"
}
TARGETS="echo wasm_echo py_echo fastapi"
for round in $(seq "$ROUNDS"); do
  order=$TARGETS; (( round % 2 == 0 )) && order="$(echo $TARGETS | tr ' ' '\n' | tac | tr '\n' ' ')"
  for target in $order; do one "$target" "$round"; done
done
# Per target, the least disturbed run.
awk '{ if (!($1 in best) || $5 < best[$1]) { best[$1] = $5; line[$1] = $0 } } END { for (t in line) print line[t] }' \
  "$WORK/results.txt" > "$WORK/best.txt"

# ---- report ------------------------------------------------------------------------------
get() { awk -v t="$1" -v k="$2" '$1==t {print $k}' "$WORK/best.txt"; }

echo
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(uname -m); wrk -t2 -c$CONNS on the same cores; ${DURATION} per run, the least disturbed of $ROUNDS rounds."
echo "Command: \`${DATABASE_URL:+DATABASE_URL=$DATABASE_URL }ROUNDS=$ROUNDS bench/plugins.sh $DURATION\` (commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- crates 2>/dev/null || echo ', crates/ with uncommitted changes'))."
echo
echo "| target | server | req/s | p99 ms | non-2xx | foreign CPU s |"
echo "|---|---|---:|---:|---:|---:|"
for target in $TARGETS; do
  case $target in
    echo) what="ours, native \`echo\`" ;; wasm_echo) what="ours, Wasm \`wasm_echo\`" ;;
    py_echo) what="ours, Python \`py_echo\` (2 workers)" ;; fastapi) what="FastAPI, 2 workers, \`echo\`" ;;
  esac
  echo "| $target | $what | $(get "$target" 2) | $(ms "$(get "$target" 3)") | $(get "$target" 4) | $(get "$target" 5) |"
done
echo
w=$(ratio "$(get wasm_echo 2)" "$(get echo 2)"); p=$(ratio "$(get py_echo 2)" "$(get fastapi 2)")
echo "| target | measured | verdict |"
echo "|---|---:|---|"
echo "| Wasm echo ≥ 0.5× native echo | ${w}× | $(verdict "$w" 0.5) |"
echo "| Python echo ≥ 2× FastAPI (2 workers) | ${p}× | $(verdict "$p" 2) |"
