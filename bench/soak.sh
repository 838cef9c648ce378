#!/usr/bin/env bash
# Soak: ten minutes of mixed load at 64 connections against one release build of
# codexcontinue on SQLite, with a plugin reload every 30 s, sampling every 10 s.
#   bench/soak.sh [MINUTES]        default 10
# The load (bench/soak.lua, wrk): native, Wasm and Python executes, chat `/run`s, audit,
# plugin-log and execution-log reads over 32 sessions (new ones every slice). wrk runs in 10 s
# slices back to back,
# so each sample has its own latency figures; between two slices the script reads the
# server's RSS (its own, and with its Python workers), its open file descriptors and the WAL's
# size. It writes soak.tsv (one row per sample), summary.txt and soak.png (gnuplot) to
# bench/results/soak-<time>/ and prints the folder's name.
# Settings: OURS_BIN (a binary to measure instead of building one), KEEP=1 (keep the work
# folder with the server's log).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
minutes="${1:-10}"
[[ "$minutes" =~ ^[1-9][0-9]*$ ]] || { echo "error: MINUTES must be a whole number" >&2; exit 2; }
slices=$(( minutes * 6 ))
connections=64
wasm_dir="${CODEX_WASM_PLUGINS_DIR:-$HOME/.cache/codexcontinue/wasm-plugins}"
[ -f "$wasm_dir/word_count_plugin.wasm" ] || { echo "error: no $wasm_dir/word_count_plugin.wasm: run scripts/build-wasm-examples.sh" >&2; exit 2; }

need_pkg wrk wrk
need_pkg gnuplot gnuplot-nox
build_ours
make_work codex-soak
results="$ROOT/bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$results"

cp "$wasm_dir/word_count_plugin.wasm" "$WORK/plugins/"
[ -f "$wasm_dir/word_count_plugin.toml" ] && cp "$wasm_dir/word_count_plugin.toml" "$WORK/plugins/"
cat > "$WORK/plugins/soak_py_plugin.py" <<'PY'
from codexcontinue import PluginInterface


class SoakPyPlugin(PluginInterface):
    def initialize(self):
        pass

    def execute(self, data):
        # {"n": N} from the load; anything else (the readiness probe's "hello") sums to 10.
        n = data.get("n", 10) if isinstance(data, dict) else 10
        return {"sum": sum(range(int(n)))}

    def shutdown(self):
        pass
PY
printf '[python]\npool_size = 2\n' > "$WORK/plugins/soak_py_plugin.toml"

port=$(free_port)
start_ours "$port"
wait_ready ours "$OURS_PID" "$port" 120 echo
wait_ready ours "$OURS_PID" "$port" 60 word_count
wait_ready ours "$OURS_PID" "$port" 60 soak_py
url="http://127.0.0.1:$port"
wal="$WORK/codexcontinue.db-wal"

# A reload every 30 s for as long as the load runs.
(
  while sleep 30; do
    curl -sf -m 10 -X POST "$url/api/plugins/reload" > /dev/null || echo "reload failed" >&2
  done
) &
reloader=$!
PIDS+=("$reloader")

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
tree_rss_kb() {
  local total=0 p
  for p in $(pstree -pT "$OURS_PID" | grep -o '([0-9]\+)' | tr -d '()'); do
    total=$(( total + $(rss_kb "$p") ))
  done
  echo "$total"
}
# wrk's latency figures in milliseconds (it prints us, ms or s).
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

printf 't_s\trequests\trps\terrors\tp50_ms\tp99_ms\trss_mb\ttree_rss_mb\tfds\twal_mb\n' > "$results/soak.tsv"
start=$SECONDS
for i in $(seq "$slices"); do
  out=$(SOAK_SLICE="$i" wrk -t2 -c"$connections" -d10s --latency -s "$HERE/soak.lua" "$url" 2>&1)
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  socket=$(grep -o 'Socket errors: .*' <<<"$out" | grep -o '[0-9]\+' | paste -sd+ | bc 2>/dev/null || echo 0); socket=${socket:-0}
  p50=$(ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  kill -0 "$OURS_PID" 2>/dev/null || { echo "error: the server died; log:" >&2; tail -30 "$WORK/ours.log" >&2; exit 1; }
  rss=$(rss_kb "$OURS_PID")
  tree=$(tree_rss_kb)
  fds=$(ls "/proc/$OURS_PID/fd" | wc -l)
  wal_bytes=$(stat -c %s "$wal" 2>/dev/null || echo 0)
  printf '%d\t%s\t%s\t%d\t%s\t%s\t%.1f\t%.1f\t%d\t%.2f\n' "$(( SECONDS - start ))" "$requests" "$rps" \
    "$(( non2xx + socket ))" "$p50" "$p99" "$(bc -l <<<"$rss/1024")" "$(bc -l <<<"$tree/1024")" "$fds" \
    "$(bc -l <<<"$wal_bytes/1048576")" >> "$results/soak.tsv"
  tail -n 1 "$results/soak.tsv" >&2
done
kill "$reloader" 2>/dev/null || true

# The summary: errors in all, RSS growth after the warm-up, the WAL's largest size, and the
# latency of the first and last minutes. The warm-up is five minutes in a run of ten or more
# (the page caches of the ten SQLite connections and the allocator's pools fill in that time:
# RSS then stays within a few percent, see docs/PERFORMANCE.md), else the first minute; the
# growth after the first minute is printed too.
awk -F'\t' -v minutes="$minutes" '
  NR == 1 { next }
  { n++; req += $2; err += $4; if ($10 > walmax) walmax = $10; rows[n] = $0; rss[n] = $7; p50[n] = $5; p99[n] = $6; fds[n] = $9 }
  END {
    warm = (n >= 60) ? 30 : 6; if (n <= warm) warm = 1
    first = (n > 6) ? 6 : 1
    growth = (rss[n] - rss[warm]) / rss[warm] * 100
    early = (rss[n] - rss[first]) / rss[first] * 100
    for (i = warm; i <= n; i++) if (rss[i] > rssmax) rssmax = rss[i]
    for (i = 1; i <= 6 && i <= n; i++) { a50 += p50[i]; a99 += p99[i]; k++ }
    for (i = n - 5; i <= n; i++) if (i >= 1) { b50 += p50[i]; b99 += p99[i]; m++ }
    printf "minutes\t%d\nrequests\t%d\nerrors\t%d\n", minutes, req, err
    printf "rss_mb after warm-up (%ds)\t%.1f\nrss_mb at the end\t%.1f\nrss_mb largest after warm-up\t%.1f\nrss growth after warm-up\t%.1f%%\nrss growth after the first minute\t%.1f%%\n", warm * 10, rss[warm], rss[n], rssmax, growth, early
    printf "fds first / last\t%d / %d\nwal_mb largest\t%.2f\n", fds[1], fds[n], walmax
    printf "p50_ms first minute / last minute\t%.2f / %.2f\np99_ms first minute / last minute\t%.2f / %.2f\n", a50 / k, b50 / m, a99 / k, b99 / m
  }' "$results/soak.tsv" > "$results/summary.txt"

gnuplot <<GP
set terminal png size 1200,900
set output "$results/soak.png"
set multiplot layout 3,1 title "codexcontinue soak: ${minutes} min, ${connections} connections, reload every 30 s"
set key outside right
set xlabel "seconds"
set ylabel "ms"
plot "$results/soak.tsv" using 1:5 with lines title "p50", "" using 1:6 with lines title "p99"
set ylabel "MiB"
plot "$results/soak.tsv" using 1:7 with lines title "server RSS", "" using 1:8 with lines title "with workers", "" using 1:10 with lines title "WAL"
set ylabel "count"
set y2label "requests/s"
set y2tics
plot "$results/soak.tsv" using 1:9 with lines title "open fds", "" using 1:3 axes x1y2 with lines title "requests/s", "" using 1:4 with impulses title "errors"
unset multiplot
GP
cat "$results/summary.txt"
echo "$results"
