#!/usr/bin/env bash
# The cost of keys at the edge, in one run, side by side:
#   open   codexcontinue serve with no key configured nor stored (loopback use)
#   keyed  the same binary on a database holding a user key granted `calculator,echo`, every
#          request presenting it: 401/403 checks, the grant check, the session claim
# Both log every execution to a fresh SQLite file. wrk -c64 (2 threads) POSTs the echo and
# calculator bodies to /api/plugins/execute, ROUNDS times in alternating order; prints a
# markdown table with the ratio and the target (keyed ≥ 0.95 × open: key checks cost under 5%).
#
# Usage: bench/keys.sh [DURATION=10s]
# Env:   DURATION, ROUNDS (default 2), CARGO_TARGET_DIR, KEEP=1 (keep the work folder),
#        OURS_BIN (a codexcontinue binary to measure instead of building one).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
DURATION="${1:-${DURATION:-10s}}"
[[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
[[ "$DURATION" =~ ^[0-9]+s$ ]] || { echo "error: DURATION must be whole seconds, like 10s" >&2; exit 2; }
START_LIMIT=30
CONNS=64
command -v wrk >/dev/null || { echo "error: wrk not found (apt-get install wrk, or run bench/run.sh once)" >&2; exit 2; }

make_work codex-keys
build_ours

OPEN_PORT=$(free_port)
start_ours "$OPEN_PORT" --database-url "sqlite://$WORK/open.db"
OPEN_PID=$OURS_PID
wait_ready open "$OPEN_PID" "$OPEN_PORT" "$START_LIMIT"

KEYED_DB="sqlite://$WORK/keyed.db"
KEY="$(cd "$WORK" && "$OURS_BIN" --database-url "$KEYED_DB" keys create --name bench --plugins calculator,echo 2>/dev/null)"
KEYED_PORT=$(free_port)
start_ours "$KEYED_PORT" --database-url "$KEYED_DB"
KEYED_PID=$OURS_PID
deadline=$(( SECONDS + START_LIMIT ))
until curl -sf -m 2 -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"plugin": "echo", "data": "hello"}' "http://127.0.0.1:$KEYED_PORT/api/plugins/execute" >/dev/null; do
  kill -0 "$KEYED_PID" 2>/dev/null || { echo "error: keyed server exited; log:" >&2; tail -20 "$WORK/ours.log" >&2; exit 1; }
  (( SECONDS < deadline )) || { echo "error: keyed server did not answer; log:" >&2; tail -20 "$WORK/ours.log" >&2; exit 1; }
  sleep 0.2
done
# The keyed server must refuse a request without the key, or the run measures nothing.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"plugin": "echo", "data": "hello"}' "http://127.0.0.1:$KEYED_PORT/api/plugins/execute")
[ "$code" = 401 ] || { echo "error: the keyed server answered $code without a key" >&2; exit 1; }

# run NAME PORT KEY BODY ROUND: one wrk run; appends "NAME BODY req/s p50 p99 non2xx" to $WORK/runs.txt.
run() {
  local name=$1 port=$2 key=$3 body=$4 round=$5 out="$WORK/wrk/$1.$4.r$5.txt"
  BENCH_KEY="$key" BENCH_BODY="$body" timeout -k 5 $(( ${DURATION%s} + 15 )) \
    wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 5s --latency -s "$HERE/keys.lua" \
    "http://127.0.0.1:$port/api/plugins/execute" > "$out" 2>&1
  local rps p50 p99 bad
  rps=$(awk '/^Requests\/sec:/{print $2}' "$out"); p50=$(awk '$1=="50%"{print $2}' "$out")
  p99=$(awk '$1=="99%"{print $2}' "$out"); bad=$(awk '/Non-2xx/{print $NF}' "$out")
  echo "$name $body ${rps:-0} ${p50:--} ${p99:--} ${bad:-0}" >> "$WORK/runs.txt"
  log "round $round: $name $body $(tail -1 "$WORK/runs.txt")"
}

for round in $(seq "$ROUNDS"); do
  for body in echo calc; do
    if (( round % 2 )); then
      run open "$OPEN_PORT" "" "$body" "$round"; run keyed "$KEYED_PORT" "$KEY" "$body" "$round"
    else
      run keyed "$KEYED_PORT" "$KEY" "$body" "$round"; run open "$OPEN_PORT" "" "$body" "$round"
    fi
  done
done

# The best round of each (the least disturbed by the other processes on the machine).
best() { awk -v n="$1" -v b="$2" -v k="$3" '$1==n && $2==b && $3+0 > best+0 {best=$3; line=$0} END{split(line, f, " "); print f[k]}' "$WORK/runs.txt"; }

echo
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(uname -m); wrk on the same cores; ${DURATION} per cell, the best of $ROUNDS rounds."
echo "Command: \`ROUNDS=$ROUNDS bench/keys.sh $DURATION\` ($(commit_note))."
echo
echo "| body | conns | no keys req/s | user key + grants req/s | keyed/open | open p99 ms | keyed p99 ms | non-2xx (keyed) | target |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
for body in echo calc; do
  o=$(best open $body 3); k=$(best keyed $body 3)
  r=$(ratio "$k" "$o")
  echo "| $body | $CONNS | $(num "$o") | $(num "$k") | $r | $(ms "$(best open $body 5)") | $(ms "$(best keyed $body 5)") | $(best keyed $body 6) | ≥ 0.95: $(verdict "$r" 0.95) |"
done
