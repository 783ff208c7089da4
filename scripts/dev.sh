#!/usr/bin/env bash
# `npm run dev`: the whole pipeline on this machine. Brings up the infrastructure, starts the
# four services as separate processes (logs prefixed by service), seeds the demo data, and
# stops everything on Ctrl-C. If one service dies, the others are stopped too, so a broken
# pipeline is never mistaken for a running one.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  "") ;;
  -h | --help | help)
    echo "usage: npm run dev   (infrastructure, the four services and the demo data; Ctrl-C stops them)"
    exit 0
    ;;
  *)
    echo "usage: npm run dev   (takes no arguments)" >&2
    exit 2
    ;;
esac

bash scripts/services.sh up

export NODE_ENV=${NODE_ENV:-development}
# PORT is one service's port on a platform (Railway sets it), and it overrides every service's:
# left in the environment (`railway run`, a cloud IDE, a shell profile), all four would try to
# bind it. Here each keeps its own (PRODUCER_PORT, WS_PORT, ...).
if [[ -n "${PORT:-}" ]]; then
  echo "dev: ignoring PORT=$PORT (each service uses its own port variable here)"
  unset PORT
fi
export LOG_PRETTY=${LOG_PRETTY:-true}
# Dev mode lets Postman and wscat authenticate with a bare userId; never the production default.
export WS_AUTH_MODE=${WS_AUTH_MODE:-dev}
echo "dev: WS_AUTH_MODE=$WS_AUTH_MODE (a bare {\"type\":\"AUTH\",\"userId\":\"user1\"} is accepted)"
# Event intake takes an API key (docs/security.md "Intake API keys"). This one is public (the
# Postman environment and the demo page use it too; shared/config.ts DEV_INTAKE_API_KEY), so
# production refuses it. A key you set yourself is used instead and never printed.
if [[ -z "${INTAKE_API_KEYS:-}" ]]; then
  export INTAKE_API_KEYS=dev-only-intake-api-key-change-me-0123456789
  echo "dev: intake key $INTAKE_API_KEYS (send Authorization: ApiKey <key> to POST /events)"
else
  echo "dev: INTAKE_API_KEYS is set; send one of its keys as Authorization: ApiKey <key>"
fi

pids=()
start() {
  local name=$1
  shift
  # exec makes $! the service's own PID, so SIGTERM reaches node and not a wrapper shell.
  # Ctrl-C signals the whole process group; the log prefixer ignores it so a service's last
  # lines (its shutdown) still reach the terminal, and ends by itself at EOF.
  (exec "$@") > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
}

stop_all() {
  trap - INT TERM
  echo "dev: stopping services"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "dev: all services stopped (infrastructure keeps running; \`npm run services:down\` stops it)"
}
trap 'stop_all; exit 0' INT TERM

for service in producer consumer ws-server jobs; do
  start "$service" node --import tsx "$service/main.ts"
done
# A failed seed stops the services too: left running, they would hold the ports the next
# `npm run dev` needs.
if ! node --import tsx seed/main.ts 2>&1 | sed -u 's/^/[seed] /'; then
  echo "dev: seeding the demo data failed; stopping the services"
  stop_all
  exit 1
fi

# Ends when any service exits on its own; then the rest are stopped too.
set +e
wait -n "${pids[@]}"
status=$?
set -e
echo "dev: a service exited (status $status); stopping the others"
stop_all
exit "$status"
