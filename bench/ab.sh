#!/usr/bin/env bash
# Alternating A/B of codexcontinue binaries (and bench/bare-axum) under logged execute load:
# each binary is started on a free loopback port with its own fresh SQLite file, then
# wrk -t2 -cCONNS runs the reference's echo body (bench/plugins.lua) against each in turn for DURATION,
# ROUNDS times with the order reversed every other round. Prints per run req/s, p50, p99,
# non-2xx and the server's CPU per request (utime + stime of the process from /proc), then
# each store's events per commit. Meant for comparing two builds (or two settings of one
# build) in one run on a noisy machine, where only figures of the same run compare.
# With PLUGIN=py_echo the load calls plugins/py_echo_plugin.py (2 workers) instead, through
# bench/plugins.lua, and the server CPU includes its workers; bare axum is left out then.
#
# Usage: bench/ab.sh ROUNDS DURATION CONNS "name|ENV=value ...|/path/to/codexcontinue" ...
#   e.g. bench/ab.sh 3 6s 64 "before||/tmp/cc-before" "after||/tmp/cc-after"
# Env:   PLUGIN (echo, the default, or py_echo), BARE_TARGET_DIR, CODEX_SHARED_DIR, KEEP=1
#        (as bench/lib.sh).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
[ $# -ge 4 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
ROUNDS=$1
check_settings "$2"
CONNS=$3; shift 3
[[ "$CONNS" =~ ^[0-9]+$ ]] && [ "$CONNS" -ge 2 ] || { echo "error: CONNS must be 2 or more (wrk -t2)" >&2; exit 2; }
need_pkg wrk wrk
need_pkg pstree psmisc
PLUGIN=${PLUGIN:-echo}
case $PLUGIN in
  echo) ;;
  py_echo) ;;
  *) echo "error: PLUGIN must be echo or py_echo" >&2; exit 2 ;;
esac
make_work codex-ab
[ "$PLUGIN" = py_echo ] && cp "$ROOT/plugins/py_echo_plugin.py" "$ROOT/plugins/py_echo_plugin.toml" "$WORK/plugins/"
[ "$PLUGIN" = echo ] && build_bare

declare -A PORT PID
NAMES=()
for spec in "$@"; do
  IFS='|' read -r name envs bin <<<"$spec"
  [ -x "$bin" ] || { echo "error: $bin is not an executable" >&2; exit 2; }
  port=$(free_port)
  # shellcheck disable=SC2086 # ENV=value words, split on purpose
  (cd "$WORK" && exec env -u CODEX_CONFIG -u RUST_LOG $envs "$bin" serve --bind "127.0.0.1:$port" \
    --plugins-dir "$WORK/plugins" --database-url "sqlite://$WORK/$name.db") > "$WORK/$name.log" 2>&1 &
  PID[$name]=$!; PORT[$name]=$port; PIDS+=("$!"); NAMES+=("$name")
done
if [ "$PLUGIN" = echo ]; then
  port=$(free_port); start_bare "$port"; PID[bare]=$BARE_PID; PORT[bare]=$port; NAMES+=(bare)
fi
for name in "${NAMES[@]}"; do wait_ready "$name" "${PID[$name]}" "${PORT[$name]}" 60 "$PLUGIN"; done

# The server's CPU, its Python workers (and their fork server) included.
cpu_ticks() {
  local total=0 pid
  for pid in $(pstree -pT "$1" | grep -o '([0-9]\+)' | tr -d '()'); do
    total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
  done
  echo "$total"
}
for round in $(seq "$ROUNDS"); do
  order=("${NAMES[@]}")
  (( round % 2 == 0 )) && mapfile -t order < <(printf '%s\n' "${NAMES[@]}" | tac)
  for name in "${order[@]}"; do
    before=$(cpu_ticks "${PID[$name]}")
    out=$(BENCH_PLUGIN=$PLUGIN timeout -k 5 120 wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 5s --latency \
      -s "$HERE/plugins.lua" "http://127.0.0.1:${PORT[$name]}/api/plugins/execute" 2>&1)
    after=$(cpu_ticks "${PID[$name]}")
    total=$(awk '/requests in/{print $1}' <<<"$out")
    awk -v r="$round" -v n="$name" -v total="${total:-0}" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
      /Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} /Non-2xx/ {bad=$NF}
      END {printf "round %d %-8s req/s %9s  p50 %8s  p99 %8s  non-2xx %s  server CPU %.1f us/req\n",
           r, n, rps, p50, p99, bad+0, total ? ticks * 1e6 / hz / total : 0}' <<<"$out"
  done
done
for name in "${NAMES[@]}"; do
  [ "$name" = bare ] && continue
  curl -sf "http://127.0.0.1:${PORT[$name]}/health" | python3 -c '
import json, sys
s = json.load(sys.stdin)["store"]
print("%s: %d events in %d commits, %.1f a commit" % (sys.argv[1], s["events"], s["commits"], s["events"] / max(1, s["commits"])))' "$name"
done
