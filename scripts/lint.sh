#!/usr/bin/env bash
# `npm run lint`: Prettier's check (scripts/format.sh; `npm run format` fixes what it names), then
# ESLint, over the project's own sources, the files git tracks, so a scratch file someone is trying
# things in (or a Python venv) never fails a run. Outside a git checkout (an unpacked tarball) it
# lints the tree, as eslint.config.js's ignores allow.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! bash scripts/format.sh --check; then
  echo "lint: the files above are not formatted; npm run format rewrites them" >&2
  exit 1
fi

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -d '' files < <(git ls-files -z -- '*.ts' '*.js' '*.mjs' '*.cjs')
  exec npx eslint --max-warnings=0 --no-warn-ignored "$@" -- "${files[@]}"
fi
exec npx eslint --max-warnings=0 "$@" .
