#!/usr/bin/env bash
# Cancel-to-stopped latency of a running call, per runtime (Python, Wasm, MCP), p50 and p99
# over N iterations (default 50). Figures go to docs/PERFORMANCE.md under
# "## Cancellation".
#
# Usage: bench/cancel.sh [iterations]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CODEX_WASM_PLUGINS_DIR="${CODEX_WASM_PLUGINS_DIR:-$HOME/.cache/codexcontinue/wasm-plugins}"
"$root/scripts/build-wasm-examples.sh" "$CODEX_WASM_PLUGINS_DIR" >/dev/null
while IFS= read -r line; do export "$line"; done < <("$root/scripts/ensure-test-tools.sh" 2>/dev/null)

cd "$root"
cargo run --quiet -p codex-host --example cancel_bench -- "${1:-50}"
