#!/usr/bin/env bash
# Start-up with many Python plugins: N copies of plugins/py_echo_plugin.py (one worker each,
# no manifest), served by the release binary, with workers forked from the fork server
# (`fork`) and spawned one by one (`python.fork_server = false`, `spawn`), alternating.
# Measures, ROUNDS times for each:
#   - from starting `serve` to its first answer on /health,
#   - to every plugin loaded (/health says plugins_state "ready"),
#   - the proportional memory (PSS, /proc/PID/smaps_rollup) of the server and of every
#     Python process under it (workers and fork server), summed and per plugin.
# Usage: bench/startup.sh [N=100]   (ROUNDS=3 by default; MODES="fork spawn" by default;
# OURS_BIN to skip the build)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
N="${1:-100}"
ROUNDS="${ROUNDS:-3}"
[[ "$N" =~ ^[1-9][0-9]{0,3}$ ]] || { echo "error: N must be 1 to 9999" >&2; exit 2; }
build_ours
make_work startup

mkdir -p "$WORK/many"
for i in $(seq "$N"); do
  cp "$ROOT/plugins/py_echo_plugin.py" "$WORK/many/echo${i}_plugin.py"
done
MODES="${MODES:-fork spawn}"
printf 'watch = false\n' > "$WORK/fork.toml"
printf 'watch = false\n[python]\nfork_server = false\n' > "$WORK/spawn.toml"

# Every process below $1, children first.
descendants() {
  local child
  for child in $(pgrep -P "$1" || true); do
    echo "$child"
    descendants "$child"
  done
}

pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

for round in $(seq "$ROUNDS"); do
for mode in $MODES; do
  cp "$WORK/$mode.toml" "$WORK/codexcontinue.toml"
  port=$(free_port)
  rm -f "$WORK/startup.db"*
  start=$(date +%s%N)
  (cd "$WORK" && exec "$OURS_BIN" serve --bind "127.0.0.1:$port" --plugins-dir "$WORK/many" \
      --database-url "sqlite://$WORK/startup.db" >"$WORK/serve.log" 2>&1) &
  pid=$!
  PIDS+=("$pid")
  # Polls /health every 5 ms: first answer, then "ready" (bounded at 120 s).
  read -r first ready < <(python3 - "$port" "$start" <<'EOF'
import json, sys, time, urllib.request
port, start = int(sys.argv[1]), int(sys.argv[2])
first = ready = None
deadline = time.time() + 120
while time.time() < deadline and ready is None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            health = json.load(r)
        now = time.time_ns()
        if first is None:
            first = now
        if health.get("plugins_state") == "ready":
            ready = now
            break
    except OSError:
        pass
    time.sleep(0.005)
ms = lambda t: "n/a" if t is None else f"{(t - start) / 1e6:.0f}"
print(ms(first), ms(ready))
EOF
)
  loaded=$(curl -sf "http://127.0.0.1:$port/health" | python3 -c 'import json,sys; h=json.load(sys.stdin); print(h["plugins"], h["load_errors"])')
  server_pss=$(pss_kib "$pid")
  workers=$(descendants "$pid")
  worker_count=$(echo "$workers" | grep -c . || true)
  worker_pss=0
  for w in $workers; do worker_pss=$((worker_pss + $(pss_kib "$w"))); done
  per_plugin=$(awk -v t="$worker_pss" -v n="$N" 'BEGIN {printf "%.2f", t / n / 1024}')
  echo "round $round $mode: $N plugins; first answer ${first} ms; all loaded ${ready} ms; plugins, load errors: $loaded; server PSS $((server_pss / 1024)) MiB; $worker_count Python processes, PSS $((worker_pss / 1024)) MiB in all, $per_plugin MiB per plugin"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
done
