#!/usr/bin/env bash
# Load time of 20 WebAssembly plugins, cold (empty compiled-module cache) and warm, and the
# latency of one Wasm call through PluginManager::execute. Release build; figures go to
# docs/PERFORMANCE.md under "## Wasm".
#
# Usage: bench/wasm_load.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CODEX_WASM_PLUGINS_DIR="${CODEX_WASM_PLUGINS_DIR:-$HOME/.cache/codexcontinue/wasm-plugins}"
"$root/scripts/build-wasm-examples.sh" "$CODEX_WASM_PLUGINS_DIR" >/dev/null

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/codexcontinue/target}"
cd "$root"
cargo run --release --quiet -p codex-host --example wasm_load
