#!/usr/bin/env bash
# Type-checks the web UI (`web/src`, plain ES modules with `// @ts-check` and JSDoc) with
# `tsc --noEmit`. The page imports its libraries by the names of its import map (`preact`,
# `marked`, ...); here those names are mapped to the same packages, at the versions
# web/VENDOR.md pins, installed with their type declarations by scripts/ensure-test-tools.sh.
#   scripts/check-web-types.sh            (CODEX_TEST_NPM from ensure-test-tools.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

npm_dir="${CODEX_TEST_NPM:-$HOME/.cache/codexcontinue/npm}"
modules="$npm_dir/node_modules"
if [ ! -x "$modules/.bin/tsc" ]; then
    echo "typescript is missing from $modules: run scripts/ensure-test-tools.sh" >&2
    exit 1
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cat > "$scratch/tsconfig.json" <<JSON
{
  "extends": "$PWD/web/tsconfig.json",
  "compilerOptions": {
    "paths": {
      "preact": ["$modules/preact"],
      "preact/hooks": ["$modules/preact/hooks"],
      "htm": ["$modules/htm"],
      "marked": ["$modules/marked"],
      "dompurify": ["$modules/dompurify"],
      "uplot": ["$modules/uplot"]
    }
  },
  "include": ["$PWD/web/src/**/*.js"]
}
JSON
"$modules/.bin/tsc" -p "$scratch/tsconfig.json" ${TSC_FLAGS:-}
echo "web UI types: ok"
