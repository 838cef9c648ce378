#!/usr/bin/env bash
# Installs the third-party programs the tests talk to, when missing, under
# $HOME/.cache/codexcontinue (or CODEX_TOOLS_DIR):
#   venv/  a Python virtualenv with the official `openai` and `mcp` SDKs, `mcp-server-time`, and
#          `streamlit` (its AppTest harness runs the original-style frontend page)
#   npm/   the npm package @modelcontextprotocol/server-everything
# Prints two lines, `CODEX_TEST_VENV=<dir>` and `CODEX_TEST_NPM=<dir>`, for the caller to export.
set -euo pipefail

tools="${CODEX_TOOLS_DIR:-$HOME/.cache/codexcontinue}"
venv="$tools/venv"
npm_dir="$tools/npm"
python_packages=(openai mcp mcp-server-time streamlit)
npm_packages=(@modelcontextprotocol/server-everything)

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
missing=()
for package in "${python_packages[@]}"; do
    "$venv/bin/python" -m pip show -q "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Python packages: ${missing[*]}" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}" >&2
fi

mkdir -p "$npm_dir"
for package in "${npm_packages[@]}"; do
    if [ ! -d "$npm_dir/node_modules/$package" ]; then
        echo "installing npm package: $package" >&2
        npm install --silent --no-audit --no-fund --prefix "$npm_dir" "$package" >&2
    fi
done

echo "CODEX_TEST_VENV=$venv"
echo "CODEX_TEST_NPM=$npm_dir"
