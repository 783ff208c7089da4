#!/usr/bin/env bash
# Prettier over the project's own code files in the current directory's checkout: the files git
# tracks, so a scratch file someone is trying things in never fails a run (outside a git checkout,
# an unpacked tarball, every code file but dependencies and build output).
#   bash scripts/format.sh          check only, exit 1 naming each file that is not formatted (npm run lint)
#   bash scripts/format.sh --write  rewrite them (npm run format)
# Style: .prettierrc.json. Markdown, JSON and YAML are left alone: the README's tables, the
# Postman collection and the OpenAPI spec are generated or hand-laid and checked by their own tests.
set -euo pipefail
prettier="$(cd "$(dirname "$0")/.." && pwd)/node_modules/.bin/prettier"
mode="${1:---check}"
case "$mode" in
  --check|--write) ;;
  *) echo "usage: bash scripts/format.sh [--check|--write]" >&2; exit 2 ;;
esac

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -d '' files < <(git ls-files -z -- '*.ts' '*.js' '*.mjs' '*.cjs')
else
  mapfile -d '' files < <(find . \( -path ./node_modules -o -path ./dist -o -path ./.data \) -prune -o \
    -type f \( -name '*.ts' -o -name '*.js' -o -name '*.mjs' -o -name '*.cjs' \) -print0)
fi
if [ "${#files[@]}" -eq 0 ]; then exit 0; fi
exec "$prettier" "$mode" --log-level warn -- "${files[@]}"
