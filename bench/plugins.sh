#!/usr/bin/env bash
# Load benchmark of dynamic plugins through POST /api/plugins/execute, in one run, side by side:
#   echo       ours, the built-in native echo
#   wasm_echo  ours, examples/plugins/wasm_echo built to wasm_echo_plugin.wasm (Extism)
#   py_echo    ours, plugins/py_echo_plugin.py with its manifest (pool_size = 2 workers)
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
ROOT="$(git -C "$HERE" rev-parse --show-toplevel)"
SHARED="${CODEX_SHARED_DIR:-$ROOT/../shared}"
PEER="$SHARED/bench/peer_fastapi"
DURATION="${1:-${DURATION:-10s}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/codexcontinue/target}"
ROUNDS="${ROUNDS:-2}"
CONNS="${CONNS:-64}"
BUILD_LIMIT=2400
START_LIMIT=60        # ours loads a Wasm module and starts Python workers
PEER_START_LIMIT=300  # the reference's first start creates a venv

[[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
[[ "$DURATION" =~ ^[0-9]+s$ ]] || { echo "error: DURATION must be whole seconds, like 10s" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || { echo "error: ROUNDS must be 1 to 99" >&2; exit 2; }
[ -x "$PEER/run.sh" ] || { echo "error: $PEER/run.sh not found; set CODEX_SHARED_DIR" >&2; exit 2; }

WORK="$(mktemp -d /tmp/codex-bench-plugins.XXXXXX)"
mkdir -p "$WORK/plugins" "$WORK/wrk"
PIDS=()
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
log "building the example Wasm plugins"
"$ROOT/scripts/build-wasm-examples.sh" "$WORK/wasm" >&2
cp "$WORK/wasm/wasm_echo_plugin.wasm" "$WORK/plugins/"
cp "$ROOT/plugins/py_echo_plugin.py" "$ROOT/plugins/py_echo_plugin.toml" "$WORK/plugins/"

for tool in wrk:wrk pstree:psmisc; do
  command -v "${tool%%:*}" >/dev/null && continue
  log "installing ${tool#*:}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  timeout 300 $sudo apt-get install -y -q "${tool#*:}" >&2
done

# ---- servers -----------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_ready NAME PID PORT LIMIT PLUGIN: polls until PLUGIN answers 2xx.
wait_ready() {
  local name=$1 pid=$2 port=$3 limit=$4 plugin=$5 deadline answer
  deadline=$(( SECONDS + limit ))
  while (( SECONDS < deadline )); do
    kill -0 "$pid" 2>/dev/null || { echo "error: $name exited; log:" >&2; tail -20 "$WORK/$name.log" >&2; exit 1; }
    if answer="$(curl -sf -m 2 -H 'Content-Type: application/json' \
        -d "{\"plugin\": \"$plugin\", \"data\": \"hello\"}" "http://127.0.0.1:$port/api/plugins/execute")"; then
      log "$name answers $plugin on 127.0.0.1:$port: $answer"
      return
    fi
    sleep 0.2
  done
  echo "error: $name did not answer $plugin within ${limit}s; log:" >&2; tail -20 "$WORK/$name.log" >&2; exit 1
}

OURS_PORT=$(free_port)
DB_ARGS=(); [ -n "${DATABASE_URL:-}" ] && DB_ARGS=(--database-url "$DATABASE_URL")
(cd "$WORK" && exec env -u CODEX_CONFIG -u CODEX_BIND -u CODEX_PLUGINS_DIR -u RUST_LOG -u DATABASE_URL \
  "$OURS_BIN" serve --bind "127.0.0.1:$OURS_PORT" --plugins-dir "$WORK/plugins" "${DB_ARGS[@]}") > "$WORK/ours.log" 2>&1 &
OURS_PID=$!; PIDS+=("$OURS_PID")
for plugin in echo wasm_echo py_echo; do wait_ready ours "$OURS_PID" "$OURS_PORT" "$START_LIMIT" "$plugin"; done

PEER_PORT=$(free_port)
"$PEER/run.sh" "$PEER_PORT" 2 > "$WORK/fastapi.log" 2>&1 &
PEER_PID=$!; PIDS+=("$PEER_PID")
wait_ready fastapi "$PEER_PID" "$PEER_PORT" "$PEER_START_LIMIT" echo
for _ in $(seq 100); do
  [ "$(pstree -pT "$PEER_PID" | grep -o '([0-9]\+)' | wc -l)" -ge 4 ] && break; sleep 0.1
done

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
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.2f", v/1000; else if (v ~ /ms$/) printf "%.2f", v+0;
  else if (v ~ /s$/) printf "%.2f", v*1000; else printf "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "n/a" }'; }
verdict() { awk -v x="$1" -v t="$2" 'BEGIN{ print (x+0 >= t) ? "met" : "MISSED" }'; }

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
