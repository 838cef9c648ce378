# Shared start-up code of the load benchmarks (bench/run.sh, bench/plugins.sh,
# bench/logging.sh): settings, the work folder, builds, tools, starting servers on free
# loopback ports, waiting for them, stopping them on exit, and the figures' formatting.
# Source it after setting HERE (this folder); it sets ROOT, SHARED, PEER, DURATION, ROUNDS,
# CARGO_TARGET_DIR, BARE_TARGET_DIR, BUILD_LIMIT and PIDS, and defines the functions below.
# shellcheck shell=bash

ROOT="$(git -C "$HERE" rev-parse --show-toplevel)"
SHARED="${CODEX_SHARED_DIR:-$ROOT/../shared}"
PEER="$SHARED/bench/peer_fastapi"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/codexcontinue/target}"
BARE_TARGET_DIR="${BARE_TARGET_DIR:-$HOME/.cache/codexcontinue/bench-target}"
ROUNDS="${ROUNDS:-2}"
BUILD_LIMIT=2400   # seconds per cargo build; the 2 cores are shared
PIDS=()

log() { echo "== $*" >&2; }

# check_settings DURATION: validates DURATION (whole seconds) and ROUNDS; sets DURATION.
check_settings() {
  DURATION=$1
  [[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
  [[ "$DURATION" =~ ^[0-9]+s$ ]] || { echo "error: DURATION must be whole seconds, like 10s" >&2; exit 2; }
  [[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || { echo "error: ROUNDS must be 1 to 99" >&2; exit 2; }
  [ -x "$PEER/bench.sh" ] || { echo "error: $PEER/bench.sh not found; set CODEX_SHARED_DIR" >&2; exit 2; }
}

# make_work PREFIX: a fresh work folder in WORK (with plugins/ and wrk/), removed on exit
# unless KEEP=1, after every server this script started is stopped.
make_work() {
  WORK="$(mktemp -d "/tmp/$1.XXXXXX")"
  mkdir -p "$WORK/plugins" "$WORK/wrk"
  trap stop_all EXIT
  trap 'exit 130' INT TERM
}

# Stops every server in PIDS: SIGTERM to the process, a bounded wait, then SIGKILL to it and
# whatever it spawned (uvicorn's workers, Python plugin workers).
stop_all() {
  local pid i p tree
  for pid in "${PIDS[@]}"; do
    tree="$(pstree -pT "$pid" 2>/dev/null | grep -o '([0-9]\+)' | tr -d '()' || true)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    for p in $pid $tree; do kill -9 "$p" 2>/dev/null || true; done
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}

# need_pkg COMMAND DEBIAN_PACKAGE: installs the package when the command is missing.
need_pkg() {
  command -v "$1" >/dev/null && return
  log "installing $2"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  timeout 300 $sudo apt-get install -y -q "$2" >&2 \
    || { timeout 300 $sudo apt-get update -q >&2 && timeout 300 $sudo apt-get install -y -q "$2" >&2; }
}

# Builds codexcontinue in release and sets OURS_BIN, unless OURS_BIN names a binary already.
build_ours() {
  if [ -n "${OURS_BIN:-}" ]; then log "measuring $OURS_BIN (not built)"; return; fi
  log "building codexcontinue (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$ROOT" && timeout "$BUILD_LIMIT" cargo build --release -p codexcontinue) >&2
  OURS_BIN="$CARGO_TARGET_DIR/release/codexcontinue"
}

# Builds bench/bare-axum in release (its own lock file and target); sets BARE_BIN.
build_bare() {
  log "building bench/bare-axum (release, target $BARE_TARGET_DIR)"
  (cd "$HERE/bare-axum" && CARGO_TARGET_DIR="$BARE_TARGET_DIR" timeout "$BUILD_LIMIT" cargo build --release --locked) >&2
  BARE_BIN="$BARE_TARGET_DIR/release/bare-axum"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_ready NAME PID PORT LIMIT [PLUGIN=echo]: polls the execute route with PLUGIN until it
# answers 2xx, the server exits, or LIMIT seconds pass. Logs the first answer.
wait_ready() {
  local name=$1 pid=$2 port=$3 limit=$4 plugin=${5:-echo} deadline answer
  deadline=$(( SECONDS + limit ))
  while (( SECONDS < deadline )); do
    kill -0 "$pid" 2>/dev/null || { echo "error: $name exited; log:" >&2; tail -20 "$WORK/$name.log" >&2; exit 1; }
    if answer="$(curl -sf -m 2 -H 'Content-Type: application/json' \
        -d "{\"plugin\": \"$plugin\", \"data\": \"hello\"}" "http://127.0.0.1:$port/api/plugins/execute")"; then
      log "$name answers $plugin on 127.0.0.1:$port (pid $pid): $answer"
      return
    fi
    sleep 0.2
  done
  echo "error: $name did not answer $plugin within ${limit}s; log:" >&2; tail -20 "$WORK/$name.log" >&2; exit 1
}

# start_ours PORT [ARGS...]: starts `codexcontinue serve` from the work folder (so no
# ./codexcontinue.toml is picked up) with the plugins folder $WORK/plugins, none of the
# CODEX_* settings of the caller's environment, and ARGS; sets OURS_PID. Log: $WORK/ours.log.
start_ours() {
  local port=$1; shift
  (cd "$WORK" && exec env -u CODEX_CONFIG -u CODEX_BIND -u CODEX_PLUGINS_DIR -u CODEX_DATABASE_URL \
    -u RUST_LOG -u DATABASE_URL \
    "$OURS_BIN" serve --bind "127.0.0.1:$port" --plugins-dir "$WORK/plugins" "$@") > "$WORK/ours.log" 2>&1 &
  OURS_PID=$!; PIDS+=("$OURS_PID")
}

# start_bare PORT: starts bench/bare-axum; sets BARE_PID. Log: $WORK/bare.log.
start_bare() {
  "$BARE_BIN" "$1" > "$WORK/bare.log" 2>&1 &
  BARE_PID=$!; PIDS+=("$BARE_PID")
}

# start_peer PORT: starts the FastAPI reference with 2 workers; sets PEER_PID once uvicorn's
# supervisor, resource tracker and both workers exist (bounded). Log: $WORK/fastapi.log.
start_peer() {
  local port=$1 limit=$2
  "$PEER/run.sh" "$port" 2 > "$WORK/fastapi.log" 2>&1 &
  PEER_PID=$!; PIDS+=("$PEER_PID")
  wait_ready fastapi "$PEER_PID" "$port" "$limit"
  for _ in $(seq 100); do
    [ "$(pstree -pT "$PEER_PID" | grep -o '([0-9]\+)' | wc -l)" -ge 4 ] && break; sleep 0.1
  done
}

# best_of NAME: of the rounds' bench.sh tables $WORK/NAME.r*.txt, keeps per body and
# connections the run least disturbed by other processes (lowest foreign_s) in $WORK/NAME.txt.
best_of() {
  awk '($1 == "echo" || $1 == "calc") && $2 ~ /^[0-9]+$/ {
         k = $1 " " $2; f = ($7 == "n/a") ? 0 : $7 + 0
         if (!(k in best) || f < best[k]) { best[k] = f; line[k] = $0 }
       } END { for (k in line) print line[k] }' "$WORK/$1".r*.txt > "$WORK/$1.txt"
}

# field NAME BODY CONNS COLUMN: one figure from $WORK/NAME.txt
# (columns: body conns req/s p50 p99 non2xx foreign_s sirq_s try).
field() { awk -v b="$2" -v c="$3" -v k="$4" '$1==b && $2==c {print $k}' "$WORK/$1.txt"; }
# wrk latencies come as 749.00us, 3.19ms or 1.02s; in milliseconds.
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.2f", v/1000; else if (v ~ /ms$/) printf "%.2f", v+0;
  else if (v ~ /s$/) printf "%.2f", v*1000; else printf "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "n/a" }'; }
num() { awk -v v="$1" 'BEGIN{ if (v+0 > 0) printf "%.0f", v; else printf "FAIL" }'; }
verdict() { awk -v x="$1" -v t="$2" 'BEGIN{ print (x+0 >= t) ? "met" : "MISSED" }'; }
# What the figures were measured on: the commit, and whether crates/ had local changes.
commit_note() {
  echo "commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- crates 2>/dev/null || echo ', crates/ with uncommitted changes')"
}
