#!/usr/bin/env bash
# The one test command (`npm test`): brings up the real RabbitMQ, Redis and FerretDB (on
# PostgreSQL) if they are not already answering, checks types and lint, builds (e2e tests start
# the built services the way Railway does), then runs every test file with node's built-in runner.
#   npm test              everything, then the fault-injection suite (test/chaos), then the
#                         cluster suite (test/cluster, ~6 min)
#   npm test -- unit      only the fast unit tests (no servers needed)
#   npm run test:chaos    only the fault-injection suite (builds first; starts its own servers)
#   npm run test:cluster  only the cluster suite (builds first; cluster.test.ts brings up RabbitMQ
#                         and Redis clusters and a FerretDB of its own with scripts/services.sh,
#                         and takes them down at the end)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive, installed if missing, as scripts/services.sh installs the
# servers: chromium for the demo page (through playwright-core, never a downloaded browser) and
# iproute2's `ss`, which reads the ws-server's listen backlog from the kernel; openssl, which
# makes the certificate of the Redis Cluster TLS test.
ensure_test_tools() {
  local missing=() as_root=()
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  command -v ss >/dev/null || missing+=(iproute2)
  command -v openssl >/dev/null || missing+=(openssl)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      echo "test: ${missing[*]} missing and this script cannot become root; install with:" >&2
      echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "test: installing ${missing[*]} with apt-get"
  # The package lists are refreshed only when the install fails without them (a fresh machine).
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" ||
    { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; }
}

# Files run alone, after the others, one at a time, each with its budget in ms:
# - aged-database loads the shared store with 200,000 documents, and on a slow disk that load
#   made every other file's first MongoDB work (creating its database's collections and indexes
#   at service start-up) miss CONNECT_TIMEOUT_MS;
# - ws-shutdown-load: 3,000 sockets and a steady push and ACK load fill both cores for about
#   40 s, which would slow whatever ran beside it, and it measures the ws-server's SIGTERM under
#   that load;
# - fanout-fairness: a 20,000-follower fan-out (60-110 s beside one other file) went past the
#   per-file 300 s once when the machine was busier than CI's, and the file then said nothing.
ALONE_FILES=(test/e2e/aged-database.test.ts test/e2e/ws-shutdown-load.test.ts test/integration/fanout-fairness.test.ts)
ALONE_BUDGETS_MS=(600000 300000 600000)

suite=${1:-all}
case "$suite" in
  unit)
    mapfile -t files < <(find test/unit -name '*.test.ts' | sort)
    ;;
  chaos)
    echo "test: build"; npm run --silent build
    exec node --import tsx --test --test-reporter=spec --test-timeout=900000 test/chaos/chaos.test.ts
    ;;
  cluster)
    bash scripts/services.sh up
    echo "test: build"; npm run --silent build
    mapfile -t clusterFiles < <(find test/cluster -name '*.test.ts' | sort)
    exec node --import tsx --test --test-reporter=spec --test-concurrency=1 --test-timeout=1200000 "${clusterFiles[@]}"
    ;;
  all)
    bash scripts/services.sh up
    ensure_test_tools
    echo "test: typecheck"; npm run --silent typecheck
    echo "test: lint"; npm run --silent lint
    echo "test: build"; npm run --silent build
    not_alone=()
    for f in "${ALONE_FILES[@]}"; do not_alone+=(-not -path "$f"); done
    mapfile -t files < <(find test -name '*.test.ts' -not -path 'test/fixtures/*' -not -path 'test/chaos/*' -not -path 'test/cluster/*' \
      "${not_alone[@]}" | sort)
    ;;
  -h | --help | help)
    echo "usage: npm test [-- unit|all|chaos|cluster]   (default: all; see the header of scripts/test.sh)"
    exit 0
    ;;
  *)
    echo "usage: npm test [-- unit|all|chaos|cluster]" >&2
    exit 2
    ;;
esac

# Node 20 does not expand globs itself, so the file list is passed explicitly.
if [[ $suite == unit ]]; then
  exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
fi
node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
for i in "${!ALONE_FILES[@]}"; do
  echo "test: ${ALONE_FILES[$i]}"
  node --import tsx --test --test-timeout="${ALONE_BUDGETS_MS[$i]}" "${ALONE_FILES[$i]}"
done
# Alone and last: it loads both cores and restarts its own (not the shared) servers. Once on
# classic queues (the default) and once on quorum queues (what a RabbitMQ cluster deployment
# declares, docs/deploy.md): the faults hit each queue type's own paths (one events queue per
# category and the consumer's ordering on quorum; x-max-priority on classic).
echo "test: chaos (classic queues)"
CHAOS_QUEUE_TYPE=classic node --import tsx --test --test-reporter=spec --test-timeout=900000 test/chaos/chaos.test.ts
echo "test: chaos (quorum queues)"
CHAOS_QUEUE_TYPE=quorum node --import tsx --test --test-reporter=spec --test-timeout=900000 test/chaos/chaos.test.ts
# After the chaos suite, alone and one file at a time: the files of test/cluster kill nodes of
# the local RabbitMQ and Redis clusters (cluster.test.ts runs seven service processes on clusters
# of its own and takes them down at the end).
echo "test: cluster"
mapfile -t clusterFiles < <(find test/cluster -name '*.test.ts' | sort)
exec node --import tsx --test --test-reporter=spec --test-concurrency=1 --test-timeout=1200000 "${clusterFiles[@]}"
