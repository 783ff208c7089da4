#!/usr/bin/env bash
# The one test command (`npm test`): brings up the real RabbitMQ, Redis and FerretDB (on
# PostgreSQL) if they are not already answering, checks types and lint, builds (e2e tests start
# the built services the way Railway does), then runs every test file with node's built-in runner.
#   npm test            everything, then the fault-injection suite (test/chaos, ~6 min)
#   npm test -- unit    only the fast unit tests (no servers needed)
#   npm run test:chaos  only the fault-injection suite (builds first; starts its own servers)
set -euo pipefail
cd "$(dirname "$0")/.."

suite=${1:-all}
case "$suite" in
  unit)
    mapfile -t files < <(find test/unit -name '*.test.ts' | sort)
    ;;
  chaos)
    echo "test: build"; npm run --silent build
    exec node --import tsx --test --test-reporter=spec --test-timeout=900000 test/chaos/chaos.test.ts
    ;;
  all)
    bash scripts/services.sh up
    echo "test: typecheck"; npm run --silent typecheck
    echo "test: lint"; npm run --silent lint
    echo "test: build"; npm run --silent build
    mapfile -t files < <(find test -name '*.test.ts' -not -path 'test/fixtures/*' -not -path 'test/chaos/*' | sort)
    ;;
  *)
    echo "usage: npm test [-- unit|all|chaos]" >&2
    exit 2
    ;;
esac

# Node 20 does not expand globs itself, so the file list is passed explicitly.
if [[ $suite == unit ]]; then
  exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
fi
node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
# Alone and last: it loads both cores and restarts its own (not the shared) servers.
echo "test: chaos"
exec node --import tsx --test --test-reporter=spec --test-timeout=900000 test/chaos/chaos.test.ts
