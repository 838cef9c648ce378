#!/usr/bin/env bash
# Where a running server's CPU goes under logged execute load: runs wrk -t2 -cCONNS with the
# reference's post.lua echo body against URL for DURATION and prints, per request, the CPU of
# each of the server's threads (grouped by thread name, from /proc/PID/task/*/stat) and the
# machine's user, system, idle, iowait and softirq time (from /proc/stat).
#
# Usage: bench/threads.sh PID URL [DURATION=6s]
#   e.g. bench/threads.sh "$(pgrep -f 'codexcontinue serve')" http://127.0.0.1:8000/api/plugins/execute
# Env:   CONNS (default 64), BENCH_BODY (echo or calc), CODEX_SHARED_DIR (as bench/lib.sh).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(git -C "$HERE" rev-parse --show-toplevel)"
PEER="${CODEX_SHARED_DIR:-$ROOT/../shared}/bench/peer_fastapi"
[ $# -ge 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
PID=$1 URL=$2 DURATION=${3:-6s}
[ -d "/proc/$PID" ] || { echo "error: no process $PID" >&2; exit 2; }

threads() {
  local task
  for task in /proc/"$PID"/task/*; do
    echo "$(basename "$task") $(tr ' ' _ < "$task/comm") $(awk '{print $14 + $15}' "$task/stat")"
  done | sort
}
BEFORE=$(mktemp); AFTER=$(mktemp); trap 'rm -f "$BEFORE" "$AFTER"' EXIT
machine_before=$(head -1 /proc/stat); threads > "$BEFORE"
out=$(BENCH_BODY=${BENCH_BODY:-echo} timeout -k 5 120 wrk -t2 -c"${CONNS:-64}" -d"$DURATION" --latency \
  -s "$PEER/post.lua" "$URL" 2>&1)
machine_after=$(head -1 /proc/stat); threads > "$AFTER"
total=$(awk '/requests in/{print $1}' <<<"$out")
grep -E "Requests/sec|50%|99%|Non-2xx" <<<"$out"
hz=$(getconf CLK_TCK)
join "$BEFORE" "$AFTER" | awk -v n="$total" -v hz="$hz" '
  {cpu[$2] += $5 - $3}
  END {for (t in cpu) if (cpu[t] > 0) printf "thread %-16s %6.1f us/req\n", t, cpu[t] * 1e6 / hz / n}'
python3 - "$machine_before" "$machine_after" "$total" "$hz" <<'PY'
import sys
before, after = (list(map(int, line.split()[1:])) for line in sys.argv[1:3])
requests, hz = int(sys.argv[3]), int(sys.argv[4])
names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
print("machine " + " ".join(f"{n}={(b - a) * 1e6 / hz / requests:.1f}" for n, a, b in zip(names, before, after)) + " us/req")
PY
