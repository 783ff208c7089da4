#!/usr/bin/env bash
# The one test command (`npm test`): brings up the real RabbitMQ, Redis and FerretDB if they
# are not already answering, checks types and lint, builds (e2e tests start the built
# services the way Railway does), then runs every test file with node's built-in runner.
#   npm test            everything
#   npm test -- unit    only the fast unit tests (no servers needed)
set -euo pipefail
cd "$(dirname "$0")/.."

suite=${1:-all}
case "$suite" in
  unit)
    mapfile -t files < <(find test/unit -name '*.test.ts' | sort)
    ;;
  all)
    bash scripts/services.sh up
    echo "test: typecheck"; npm run --silent typecheck
    echo "test: lint"; npm run --silent lint
    echo "test: build"; npm run --silent build
    mapfile -t files < <(find test -name '*.test.ts' -not -path 'test/fixtures/*' | sort)
    ;;
  *)
    echo "usage: npm test [-- unit|all]" >&2
    exit 2
    ;;
esac

# Node 20 does not expand globs itself, so the file list is passed explicitly.
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
