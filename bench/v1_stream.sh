#!/usr/bin/env bash
# /v1/chat/completions streamed through CodexContinue (release build), against the same
# scripted OpenAI-protocol server called directly, in one run: time to first token and tokens
# per second (bench/v1_stream.py). The scripted server streams TOKENS chunks at a fixed pace.
# Usage: bench/v1_stream.sh [REQUESTS=200]   (TOKENS=50, PACE_MS=10; ROUNDS=3; OURS_BIN skips the build)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
REQUESTS="${1:-200}"
TOKENS="${TOKENS:-50}"
PACE_MS="${PACE_MS:-10}"
ROUNDS="${ROUNDS:-3}"
[[ "$REQUESTS" =~ ^[1-9][0-9]{0,4}$ ]] || { echo "error: REQUESTS must be 1 to 99999" >&2; exit 2; }
build_ours
make_work v1stream

model_port=$(free_port)
python3 "$HERE/v1_stream.py" serve "$model_port" "$TOKENS" "$PACE_MS" &
PIDS+=("$!")
ours_port=$(free_port)
cat > "$WORK/codexcontinue.toml" <<EOF
watch = false
log = "warn"
[[model.providers]]
name = "scripted"
base_url = "http://127.0.0.1:$model_port/v1"
model = "scripted"
max_retries = 0
EOF
(cd "$WORK" && exec "$OURS_BIN" serve --bind "127.0.0.1:$ours_port" --plugins-dir "$WORK/plugins" \
    --database-url "sqlite://$WORK/v1.db" >"$WORK/serve.log" 2>&1) &
PIDS+=("$!")
wait_ready ours "${PIDS[-1]}" "$ours_port" 60
for _ in $(seq 100); do
  curl -sf -m 1 -o /dev/null -X POST "http://127.0.0.1:$model_port/v1/chat/completions" -d '{}' && break
  sleep 0.1
done

log "$ROUNDS rounds of $REQUESTS streamed requests each way ($TOKENS tokens every $PACE_MS ms)"
for round in $(seq "$ROUNDS"); do
  echo "round $round: $(python3 "$HERE/v1_stream.py" measure \
      "http://127.0.0.1:$model_port/v1/chat/completions" \
      "http://127.0.0.1:$ours_port/v1/chat/completions" "$REQUESTS")"
done
