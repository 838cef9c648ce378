#!/usr/bin/env bash
# Builds the example WebAssembly plugins in examples/plugins for wasm32-wasip1 and copies
# each module to an output folder as <name>_plugin.wasm, with an example manifest beside
# those that have one (examples/plugins/<name>/<name>_plugin.toml).
#
# Usage: scripts/build-wasm-examples.sh [OUTPUT_DIR]
#   OUTPUT_DIR defaults to $CODEX_WASM_PLUGINS_DIR, else $HOME/.cache/codexcontinue/wasm-plugins.
# The examples are their own Cargo workspace; their target folder is
# $HOME/.cache/codexcontinue/wasm-examples-target (override with WASM_EXAMPLES_TARGET_DIR).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
examples="$root/examples/plugins"
out="${1:-${CODEX_WASM_PLUGINS_DIR:-$HOME/.cache/codexcontinue/wasm-plugins}}"
target_dir="${WASM_EXAMPLES_TARGET_DIR:-$HOME/.cache/codexcontinue/wasm-examples-target}"
target=wasm32-wasip1

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "installing the $target target" >&2
    rustup target add "$target"
fi

# The main workspace's CARGO_TARGET_DIR must not leak into this separate workspace.
unset CARGO_TARGET_DIR
cargo build --release --target "$target" \
    --manifest-path "$examples/Cargo.toml" \
    --target-dir "$target_dir"

mkdir -p "$out"
for crate in "$examples"/*/; do
    name="$(basename "$crate")"
    [ -f "$crate/Cargo.toml" ] || continue
    module="$target_dir/$target/release/$name.wasm"
    if [ ! -f "$module" ]; then
        echo "expected $module after the build" >&2
        exit 1
    fi
    # Copy then rename, so a running server watching $out never sees half a file.
    cp "$module" "$out/.${name}_plugin.wasm.tmp"
    mv "$out/.${name}_plugin.wasm.tmp" "$out/${name}_plugin.wasm"
    if [ -f "$crate/${name}_plugin.toml" ]; then
        cp "$crate/${name}_plugin.toml" "$out/${name}_plugin.toml"
    fi
    echo "$out/${name}_plugin.wasm"
done
