#!/usr/bin/env bash
# Local infrastructure for development and tests: RabbitMQ, Redis and a
# MongoDB-compatible server (FerretDB on PostgreSQL), all on 127.0.0.1.
# FerretDB runs on PostgreSQL, not on its SQLite backend: on SQLite it has no secondary
# indexes and reads the whole collection into FerretDB for every query (tens of seconds
# per query at 200,000 documents); on PostgreSQL the filter runs inside PostgreSQL, through
# GIN indexes an event trigger adds (see ensure_pg_gin_trigger; 3-60 ms a query at 200,000
# documents, docs/persistence.md). PostgreSQL gets its own
# cluster in .data/postgres, run by this script (not the Debian system service); as
# root it runs as the `postgres` user, and if that user cannot reach .data (a checkout
# under /root) the cluster lives in ~postgres/services-sh/<hash>, linked from .data/postgres.
#
#   scripts/services.sh up       start whatever is not already answering
#   scripts/services.sh down     stop only what this script started
#   scripts/services.sh status   show what answers and who owns it
#   scripts/services.sh cluster up|down|status
#                                the clustered engines: a 3-node RabbitMQ cluster
#                                (scripts/rabbitmq-cluster.sh) and, where the checkout has
#                                scripts/redis-cluster.sh, a 3-master/3-replica Redis Cluster;
#                                idempotent like up/down (see cluster_cmd below)
#
# Ports: RABBITMQ_PORT (5672), REDIS_PORT (6379), MONGO_PORT (27017) and
# POSTGRES_PORT (5433; 5432 is left to a system PostgreSQL, e.g. the one the Debian
# package starts on install).
# State, logs and PID files live in <repo>/.data (git-ignored), or SERVICES_DATA_DIR.
# FerretDB runs with GOGC=400 unless GOGC is set (see FERRETDB_GOGC below).
# A second, independent set (the chaos suite's) needs its own SERVICES_DATA_DIR, ports and
# RABBITMQ_NODENAME (optionally RABBITMQ_DIST_PORT); `down` with the same environment stops
# only that set. `up`/`down` take optional server names to act on only those:
#   scripts/services.sh down redis && scripts/services.sh up redis
#   scripts/services.sh down ferretdb postgres   (FerretDB always stops before PostgreSQL)
# `up` starts PostgreSQL before FerretDB, also when only ferretdb is named and
# PostgreSQL does not answer (FerretDB is useless without it).
#
# Exit codes: 0 success; 1 failure (message on stderr); `status` exits 3
# when at least one server does not answer (LSB convention), so it can be
# used as a readiness check: `scripts/services.sh status || scripts/services.sh up`.
#
# RabbitMQ runs as node notif@localhost with the invoking user's
# ~/.erlang.cookie. To inspect it by hand use the unwrapped CLI (the Debian
# /usr/sbin/rabbitmqctl wrapper switches to the rabbitmq user and its cookie):
#   /usr/lib/rabbitmq/bin/rabbitmqctl -n notif@localhost status
set -euo pipefail

# ROOT, DATA, PIDS, LOGS, HOST and the helpers (say, die, port_open, live_pid_from_file,
# wait_gone, wait_port, take_lock, ...) shared with the cluster scripts.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RABBITMQ_PORT="${RABBITMQ_PORT:-5672}"
REDIS_PORT="${REDIS_PORT:-6379}"
MONGO_PORT="${MONGO_PORT:-27017}"
POSTGRES_PORT="${POSTGRES_PORT:-5433}"

FERRETDB_VERSION=v1.24.2
FERRETDB_MODULE=github.com/FerretDB/FerretDB
RABBIT_NODE="${RABBITMQ_NODENAME:-notif@localhost}"
# Erlang distribution port; empty = RabbitMQ's default (RABBITMQ_PORT + 20000).
RABBIT_DIST_PORT="${RABBITMQ_DIST_PORT:-}"

# Boot time bounds in seconds. RabbitMQ (Erlang VM + Mnesia) is by far the slowest.
RABBITMQ_WAIT=60
DEFAULT_WAIT=20
STOP_WAIT=30

# Start order; `down` stops in reverse (FerretDB before the PostgreSQL it runs on).
SERVICES=(rabbitmq redis postgres ferretdb)

# ---------------------------------------------------------------- helpers

port_of() {
  case "$1" in
    rabbitmq) echo "$RABBITMQ_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
    postgres) echo "$POSTGRES_PORT" ;;
    ferretdb) echo "$MONGO_PORT" ;;
  esac
}

pid_file() { echo "$PIDS/$1.pid"; }

# Substring expected in /proc/<pid>/cmdline. Guards against PID reuse: a stale
# PID file must never make `down` signal an unrelated process.
cmd_marker() {
  case "$1" in
    rabbitmq) echo "rabbitmq-server" ;;
    redis) echo "redis-server" ;;
    # The postmaster's command line is `.../postgres -D <data dir> ...`: the data dir
    # tells our cluster from a system one (or another set's).
    postgres) echo "-D $(pg_dir)" ;;
    ferretdb) echo "ferretdb" ;;
  esac
}

# Prints the PID of our live process for a service; removes a stale PID file
# quietly (process gone, or PID now belongs to something else).
our_pid() { # name
  live_pid_from_file "$(pid_file "$1")" "$(cmd_marker "$1")"
}

# Run a command as root: directly, or through passwordless sudo. Returns 2 if
# neither is possible, so callers can print the manual command instead.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 2
  fi
}

APT_UPDATED=0
apt_install() { # package
  local pkg=$1 rc=0
  if [[ $EUID -ne 0 ]] && ! { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; then
    die "$pkg is not installed and this script cannot become root (no passwordless sudo).
Install it yourself, then re-run:
  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $pkg"
  fi
  say "$pkg: not installed, installing with apt-get"
  # Only refresh package lists when the install actually fails, and at most
  # once per run: `apt-get update` is slow and usually unnecessary.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" || rc=$?
  if [[ $rc -ne 0 && $APT_UPDATED -eq 0 ]]; then
    say "$pkg: install failed, running apt-get update and retrying"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    APT_UPDATED=1
    rc=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" || rc=$?
  fi
  [[ $rc -eq 0 ]] || die "$pkg: apt-get install failed (exit $rc)"
}

# Debian package postinst scripts may start the system-wide service on the
# default port. If that happened, reuse it rather than fight over the port.
answering_after_install() { # name port
  if port_open "$2"; then
    say "$1: the package install started a system service on $HOST:$2, reusing it"
    return 0
  fi
  return 1
}

# ---------------------------------------------------------------- redis

start_redis() {
  local port=$REDIS_PORT pid log="$LOGS/redis.log"
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server
    answering_after_install redis "$port" && return 0
  fi
  mkdir -p "$DATA/redis"
  say "redis: starting redis-server on $HOST:$port (AOF in .data/redis)"
  # No config file on purpose: /etc/redis/redis.conf is tuned for the system
  # service. RDB snapshots are off (--save ""), AOF gives durability.
  redis-server --bind "$HOST" --port "$port" --dir "$DATA/redis" \
    --appendonly yes --save "" --daemonize yes \
    --pidfile "$(pid_file redis)" --logfile "$log" 9>&- ||
    { show_log_tail redis "$log"; die "redis: redis-server failed to start"; }
  # With --daemonize the PID file is written by the forked child, a moment later.
  pid=""
  for _ in {1..40}; do
    pid="$(our_pid redis)" && break
    sleep 0.25
  done
  if [[ -z "$pid" ]] && ! port_open "$port"; then
    show_log_tail redis "$log"
    die "redis: redis-server exited right after starting (see log above)"
  fi
  wait_port redis "$port" "$DEFAULT_WAIT" "$pid" "$log"
}

# ---------------------------------------------------------------- rabbitmq

# Debian's /usr/sbin/rabbitmq-server and /usr/sbin/rabbitmqctl are wrappers
# that `su rabbitmq` when run as root; the server would then be unable to write
# to .data and rabbitmqctl would read rabbitmq's Erlang cookie instead of ours.
# The real scripts in /usr/lib/rabbitmq/bin run fine as any user, root included.
rabbit_bin() { # rabbitmq-server | rabbitmqctl
  if [[ -x "/usr/lib/rabbitmq/bin/$1" ]]; then
    echo "/usr/lib/rabbitmq/bin/$1"
  else
    command -v "$1"
  fi
}

# Everything the node (and rabbitmqctl, which must agree on node name and
# cookie) needs so that no state is read from or written to /etc or /var.
rabbit_env() {
  local base="$DATA/rabbitmq"
  export RABBITMQ_NODENAME="$RABBIT_NODE"
  export RABBITMQ_NODE_IP_ADDRESS="$HOST"
  export RABBITMQ_NODE_PORT="$RABBITMQ_PORT"
  if [[ -n "$RABBIT_DIST_PORT" ]]; then export RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT"; else unset RABBITMQ_DIST_PORT; fi
  # Main log to stdout, which start_rabbitmq redirects into .data/logs/rabbitmq.log.
  rabbit_node_files "$base"
  # The Erlang cookie lives in $HOME/.erlang.cookie (created on first boot);
  # server and rabbitmqctl must see the same HOME.
  export HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
}

start_rabbitmq() {
  local port=$RABBITMQ_PORT server log="$LOGS/rabbitmq.log" base="$DATA/rabbitmq" pid
  if [[ -z "$(rabbit_bin rabbitmq-server)" ]]; then
    apt_install rabbitmq-server
    answering_after_install rabbitmq "$port" && return 0
  fi
  server="$(rabbit_bin rabbitmq-server)"
  mkdir -p "$base/mnesia" "$base/log"
  # No plugins (management UI etc.): faster boot, fewer ports.
  [[ -f "$base/enabled_plugins" ]] || echo '[].' >"$base/enabled_plugins"
  if [[ ! -f "$base/rabbitmq.conf" ]]; then
    cat >"$base/rabbitmq.conf" <<'EOF'
# Generated by scripts/services.sh. Listener address/port come from the
# environment (RABBITMQ_NODE_IP_ADDRESS / RABBITMQ_NODE_PORT).
# guest/guest is allowed because clients connect over loopback only.
loopback_users.guest = true
EOF
  fi
  say "rabbitmq: starting node $RABBIT_NODE on $HOST:$port (state in .data/rabbitmq, boot takes ~5-20s)"
  # Foreground mode under nohup rather than -detached: $! is then the wrapper
  # shell, which turns SIGTERM into a clean broker shutdown, and stdout/stderr
  # (including the broker log, RABBITMQ_LOGS=-) land in our log file.
  # setsid detaches it from the caller's process group (Ctrl-C, job kills).
  (
    exec 9>&- # never let a long-lived server inherit the lock (see take_lock, scripts/lib/common.sh)
    rabbit_env
    cd "$base"
    exec setsid nohup "$server" >>"$log" 2>&1 </dev/null
  ) &
  pid=$!
  echo "$pid" >"$(pid_file rabbitmq)"
  wait_port rabbitmq "$port" "$RABBITMQ_WAIT" "$pid" "$log"
}

stop_rabbitmq_beam() {
  # If the wrapper was killed hard, the Erlang VM can outlive it; it recorded
  # its own PID in beam.pid. Only touch it if it is our node.
  local f="$DATA/rabbitmq/beam.pid" pid
  [[ -s "$f" ]] || return 0
  read -r pid <"$f" || true
  if [[ "$pid" =~ ^[0-9]+$ ]] && pid_matches "$pid" "$RABBIT_NODE"; then
    say "rabbitmq: stopping leftover Erlang VM (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" "$STOP_WAIT" || { kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$f"
}

# ---------------------------------------------------------------- postgres

# The user our PostgreSQL runs as when this script runs as root: initdb, pg_ctl and
# postgres refuse to run as root. The Debian package creates this system user.
PG_OS_USER=postgres
# Database role FerretDB connects as (initdb -U), the same whoever runs the script.
PG_ROLE=postgres
PG_DATABASE=ferretdb

# FerretDB 1.24 can hold more than one PostgreSQL connection for one command, and waits for the
# next one with no deadline: an `update` keeps each statement's read open (one connection per
# matched statement, until the whole command ends) while it takes another for the write. Once
# every connection of its pgx pool is held by commands waiting for one more, it waits forever:
# no command gets a connection again (`Acquire` errors in its log, only idle sessions in
# PostgreSQL) until FerretDB restarts. Its default pool is 50 connections; 50 matched `updateOne`
# statements in one bulk write, or 50 concurrent single updates, were enough.
# So the pool is made larger than the server's limit: the pool itself never waits, and a burst
# beyond PG_MAX_CONNECTIONS fails its commands with PostgreSQL's "too many clients" (clients
# retry) instead of wedging the store. Idle connections close after a minute
# (pool_max_conn_idle_time; FerretDB 1.24 forces 1m whenever the parameter is given).
# docs/persistence.md "FerretDB waits forever for a connection".
PG_MAX_CONNECTIONS=500
FERRETDB_POOL_MAX_CONNS=1000

# FerretDB is a Go program, and at the pipeline's rate most of its CPU is Go's allocator and
# garbage collector (72 % of its samples under `perf` at 1,500 events/s, its heap a few MB, so
# the default GOGC=100 collects many times a second). GOGC=400 lets the heap grow to five times
# the live data between collections: at 1,500/s FerretDB went from 0.08 to 0.048 ms of CPU per
# event for about 15 MB more memory (docs/performance.md "Seventh look"). A GOGC already in the
# environment wins.
FERRETDB_GOGC="${GOGC:-400}"

# Debian keeps the server programs (initdb, pg_ctl, postgres) out of PATH, in
# /usr/lib/postgresql/<major>/bin; the newest installed major wins, PATH is the fallback.
pg_bin() { # program
  local d
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    [[ -x "$d/$1" ]] && { echo "$d/$1"; return 0; }
  done
  command -v "$1"
}

# Runs a PostgreSQL server program as PG_OS_USER when we are root, else as ourselves.
# From / so the programs never trip over a working directory that user cannot read.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u "$PG_OS_USER" -- "$@")
  else
    (cd / && "$@")
  fi
}

# As root, files the server writes must belong to PG_OS_USER.
pg_own() { # path...
  [[ $EUID -ne 0 ]] || chown "$PG_OS_USER:" "$@"
}

# The cluster's directory: $DATA/postgres, or where that symlink points (see pg_relocate).
pg_dir() {
  if [[ -L "$DATA/postgres" ]]; then readlink "$DATA/postgres"; else echo "$DATA/postgres"; fi
}

# As root the server runs as PG_OS_USER, who may be unable to reach $DATA (a checkout under
# /root, mode 700). Then a new cluster goes into that user's home, in a directory keyed by
# $DATA, and $DATA/postgres becomes a symlink to it: "$DATA/postgres exists" still means "this
# set has a cluster" (the chaos suite deletes it to start fresh), so a leftover there is wiped.
pg_relocate() {
  local home alt
  [[ $EUID -eq 0 && ! -e "$DATA/postgres" && ! -L "$DATA/postgres" ]] || return 0
  runuser -u "$PG_OS_USER" -- test -x "$DATA" 2>/dev/null && return 0
  home="$(getent passwd "$PG_OS_USER" | cut -d: -f6)"
  alt="$home/services-sh/$(printf '%s' "$DATA" | sha1sum | cut -c1-16)"
  say "postgres: user $PG_OS_USER cannot reach $DATA; the cluster goes to $alt ($DATA/postgres links to it)"
  rm -rf "$alt" "$alt.initdb"
  mkdir -p "${alt%/*}"
  ln -s "$alt" "$DATA/postgres"
}

# A new cluster, built next to its final place and moved there only when complete, so an
# interrupted initdb never leaves a half cluster that later runs would try to start.
init_postgres() { # dir log
  local dir=$1 log=$2 tmp="$1.initdb"
  [[ ! -e "$dir" ]] || die "postgres: $dir exists but holds no cluster (no PG_VERSION); move it away and re-run"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  chmod 700 "$tmp"
  pg_own "$tmp"
  as_pg test -w "$tmp" ||
    die "postgres: user $PG_OS_USER cannot write to $tmp (a parent directory is closed to it); point SERVICES_DATA_DIR somewhere it can reach"
  say "postgres: creating a cluster in $dir (initdb, first run only)"
  # Trust auth: the server listens on loopback only, like the other servers here.
  as_pg "$(pg_bin initdb)" -D "$tmp" -U "$PG_ROLE" --auth=trust --no-locale -E UTF8 >>"$log" 2>&1 ||
    { show_log_tail postgres "$log"; die "postgres: initdb failed (see log above)"; }
  cat >>"$tmp/postgresql.conf" <<'EOF'

# Added by scripts/services.sh. The port comes from the command line (POSTGRES_PORT).
listen_addresses = '127.0.0.1'
# TCP only: no socket file in /var/run/postgresql, which belongs to the system service.
unix_socket_directories = ''
EOF
  mv "$tmp" "$dir"
}

pg_query() { # sql
  "$(pg_bin psql)" -X -q -t -A -v ON_ERROR_STOP=1 -h "$HOST" -p "$POSTGRES_PORT" -U "$PG_ROLE" -d postgres -c "$1"
}

# FerretDB needs its database to exist. Checked on every start of our server, so a run
# interrupted between initdb and this step still ends with the database.
ensure_pg_database() {
  [[ "$(pg_query "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" == 1 ]] && return 0
  say "postgres: creating database $PG_DATABASE"
  pg_query "CREATE DATABASE $PG_DATABASE" >/dev/null
}

# FerretDB 1.24 turns a filter such as {userId: "u"} into `_jsonb->'userId' @> '"u"'`, which the
# B-tree indexes it creates for createIndexes cannot answer, so every query on a collection is a
# sequential scan (docs/persistence.md: ~250 ms a query at 200,000 documents, _id lookups too).
# A GIN jsonb_path_ops index on the same expression answers `@>`. This event trigger adds one per
# field the pipeline filters on to every table FerretDB creates for a collection, so the local
# store costs what an indexed MongoDB costs in shape (a user's share, not the whole collection):
# `_id` everywhere, `userId` on notifications, `followerId` and `followeeId` on follows. (FerretDB
# names a collection's table `<collection>_<hash>`.) An index on a field a collection's documents
# lack would only add an entry per insert that no query reads.
# Local only: the services send plain MongoDB commands and know nothing of it.
PG_GIN_TRIGGER_SQL="
CREATE OR REPLACE FUNCTION notif_gin_indexes() RETURNS event_trigger LANGUAGE plpgsql AS \$fn\$
DECLARE
  t record;
  f text;
  rel text;
BEGIN
  FOR t IN SELECT objid, object_identity FROM pg_event_trigger_ddl_commands()
           WHERE command_tag = 'CREATE TABLE' AND object_type = 'table' LOOP
    CONTINUE WHEN t.object_identity LIKE '%._ferretdb_%';
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = t.objid AND attname = '_jsonb');
    SELECT relname INTO rel FROM pg_class WHERE oid = t.objid;
    FOREACH f IN ARRAY ARRAY['_id'] || CASE
        WHEN rel LIKE 'notifications\\_%' THEN ARRAY['userId']
        WHEN rel LIKE 'follows\\_%' THEN ARRAY['followerId', 'followeeId']
        ELSE ARRAY[]::text[] END LOOP
      EXECUTE format('CREATE INDEX ON %s USING gin ((_jsonb -> %L) jsonb_path_ops)', t.object_identity, f);
    END LOOP;
  END LOOP;
END
\$fn\$;
DROP EVENT TRIGGER IF EXISTS notif_gin_indexes;
CREATE EVENT TRIGGER notif_gin_indexes ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION notif_gin_indexes();
"

ensure_pg_gin_trigger() {
  "$(pg_bin psql)" -X -q -t -A -v ON_ERROR_STOP=1 -h "$HOST" -p "$POSTGRES_PORT" -U "$PG_ROLE" -d "$PG_DATABASE" \
    -c "$PG_GIN_TRIGGER_SQL" >/dev/null
}

start_postgres() {
  local port=$POSTGRES_PORT dir log="$LOGS/postgres.log" pid=""
  if [[ -z "$(pg_bin pg_ctl)" ]]; then
    apt_install postgresql
    # The package starts a system cluster on 5432; it is reused only if it is on our port.
    answering_after_install postgres "$port" && return 0
  fi
  if [[ $EUID -eq 0 ]] && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    die "postgres: running as root needs the '$PG_OS_USER' system user (created by Debian's postgresql package)"
  fi
  pg_relocate
  dir="$(pg_dir)"
  if [[ "$dir" != "$DATA/postgres" ]]; then
    # The server writes its log as PG_OS_USER: next to the cluster, linked from $LOGS.
    log="$dir.log"
    ln -sfn "$log" "$LOGS/postgres.log"
  fi
  touch "$log"
  pg_own "$log"
  [[ -f "$dir/PG_VERSION" ]] || init_postgres "$dir" "$log"
  # Right after a SIGKILL the old postmaster can take a moment to be reaped; while its PID
  # in postmaster.pid is alive, postgres refuses to start ("lock file already exists").
  if [[ -s "$dir/postmaster.pid" ]]; then
    read -r pid <"$dir/postmaster.pid" || true
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      say "postgres: waiting for the previous postmaster (pid $pid) to go away"
      wait_gone "$pid" 10 || true
    fi
    pid=""
  fi
  say "postgres: starting PostgreSQL on $HOST:$port (cluster in $dir)"
  # pg_ctl -w returns once the server accepts connections; the postmaster it starts runs in
  # its own session (pg_ctl calls setsid), so Ctrl-C on the caller does not reach it.
  # max_connections on the command line, not in postgresql.conf: it applies to clusters created
  # before it was raised too (see PG_MAX_CONNECTIONS).
  as_pg "$(pg_bin pg_ctl)" start -D "$dir" -l "$log" -w -t "$DEFAULT_WAIT" -s \
    -o "-p $port -c max_connections=$PG_MAX_CONNECTIONS" 9>&- ||
    { show_log_tail postgres "$log"; die "postgres: pg_ctl start failed (see log above)"; }
  # The first line of postmaster.pid is the postmaster's PID: ours to stop later.
  read -r pid <"$dir/postmaster.pid" || true
  [[ "$pid" =~ ^[0-9]+$ ]] && echo "$pid" >"$(pid_file postgres)"
  wait_port postgres "$port" "$DEFAULT_WAIT" "$pid" "$log"
  ensure_pg_database
  ensure_pg_gin_trigger
}

# Fast shutdown: rolls back open transactions and disconnects clients, then checkpoints.
# SIGTERM would be a "smart" shutdown, which waits for every client to leave on its own.
stop_postgres() { # pid
  as_pg "$(pg_bin pg_ctl)" stop -D "$(pg_dir)" -m fast -w -t "$STOP_WAIT" -s 9>&- && return 0
  # pg_ctl missing or failing: SIGINT is the same fast shutdown, sent by hand.
  kill -INT "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- ferretdb

# FerretDB panics at startup when its embedded build/version/version.txt is
# missing -- and that file is generated, so it is NOT in the published module
# zip. Any plain `go install ...@v1.24.2` therefore yields a binary that dies
# immediately; running `--version` is a cheap way to tell a usable binary.
ferretdb_works() { "$1" --version >/dev/null 2>&1; }

ferretdb_bin() {
  local c seen="" gopath=""
  command -v go >/dev/null && gopath="$(go env GOPATH)"
  for c in ${gopath:+"$gopath/bin/ferretdb"} "$(command -v ferretdb || true)"; do
    [[ -n "$c" && -x "$c" && "$c" != "$seen" ]] || continue
    seen=$c
    if ferretdb_works "$c"; then
      echo "$c"
      return 0
    fi
    say "ferretdb: $c exists but does not run ('--version' fails), ignoring it" >&2
  done
  return 1
}

install_ferretdb() {
  local gopath out tmp dir rc=0
  command -v go >/dev/null || die "ferretdb is not installed and 'go' is not on PATH.
Install Go (https://go.dev/dl/), then re-run this script; it runs
  go install $FERRETDB_MODULE/cmd/ferretdb@$FERRETDB_VERSION
and falls back to building from 'go mod download' if that fails."
  gopath="$(go env GOPATH)"
  out="$gopath/bin/ferretdb"
  mkdir -p "$gopath/bin"
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand $tmp now; it is local
  trap "rm -rf '$tmp'" EXIT
  say "ferretdb: no working binary, building $FERRETDB_VERSION into $out (a few minutes on a cold Go cache)"

  # Build into $tmp and move into place only once it runs, so a failed or
  # interrupted build never leaves a broken binary where we look for one.
  GOBIN="$tmp/bin" go install "$FERRETDB_MODULE/cmd/ferretdb@$FERRETDB_VERSION" || rc=$?
  if [[ $rc -eq 0 ]] && ferretdb_works "$tmp/bin/ferretdb"; then
    mv -f "$tmp/bin/ferretdb" "$out"
    say "ferretdb: installed $out (go install)"
    return 0
  fi
  if [[ $rc -ne 0 ]]; then
    # Some proxies answer 403 to the version-list query `go install pkg@version`
    # makes for its deprecation check; `go mod download` of the exact version does not.
    say "ferretdb: 'go install' failed (exit $rc), falling back to go mod download + go build"
  else
    say "ferretdb: 'go install' built a binary that does not run (missing version.txt), falling back to go build"
  fi
  dir="$(cd "$tmp" && go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')" || true
  [[ -n "$dir" && -d "$dir" ]] || die "ferretdb: go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed"
  # The module cache is read-only, so build from a writable copy with the
  # generated version file added.
  cp -R "$dir" "$tmp/src"
  chmod -R u+w "$tmp/src"
  echo "$FERRETDB_VERSION" >"$tmp/src/build/version/version.txt"
  # -buildvcs=false: the copy is not a VCS checkout.
  (cd "$tmp/src" && go build -buildvcs=false -o "$tmp/ferretdb" ./cmd/ferretdb) ||
    die "ferretdb: go build failed (sources copied from $dir)"
  ferretdb_works "$tmp/ferretdb" || die "ferretdb: freshly built binary does not run: $("$tmp/ferretdb" --version 2>&1 | head -n 3)"
  mv -f "$tmp/ferretdb" "$out"
  say "ferretdb: installed $out (go build fallback)"
}

start_ferretdb() {
  local port=$MONGO_PORT bin log="$LOGS/ferretdb.log" pid
  if ! port_open "$POSTGRES_PORT"; then
    say "ferretdb: PostgreSQL does not answer on $HOST:$POSTGRES_PORT, starting it first"
    up_one postgres
  fi
  bin="$(ferretdb_bin)" || { install_ferretdb; bin="$(ferretdb_bin)"; } ||
    die "ferretdb: binary still not found after install"
  # Only FerretDB's state file lives here now. A .data/ferretdb from the SQLite days still
  # holds its *.sqlite files: they are no longer read (the data is in PostgreSQL) and can go.
  mkdir -p "$DATA/ferretdb"
  say "ferretdb: starting $bin on $HOST:$port (PostgreSQL $HOST:$POSTGRES_PORT, database $PG_DATABASE)"
  # --state-dir: default is the CWD. --debug-addr=-: the default debug HTTP
  # listener on 127.0.0.1:8088 would collide with other instances/tools.
  (
    exec 9>&- # never let a long-lived server inherit the lock (see take_lock, scripts/lib/common.sh)
    cd "$DATA/ferretdb"
    exec env GOGC="$FERRETDB_GOGC" setsid nohup "$bin" --handler=postgresql \
      --postgresql-url="postgres://$PG_ROLE@$HOST:$POSTGRES_PORT/$PG_DATABASE?pool_max_conns=$FERRETDB_POOL_MAX_CONNS&pool_max_conn_idle_time=1m" \
      --listen-addr="$HOST:$port" --state-dir="$DATA/ferretdb" --debug-addr=- \
      --telemetry=disable --log-level=warn >>"$log" 2>&1 </dev/null
  ) &
  pid=$!
  echo "$pid" >"$(pid_file ferretdb)"
  wait_port ferretdb "$port" "$DEFAULT_WAIT" "$pid" "$log"
}

# ---------------------------------------------------------------- clusters

# The clustered engines, each run by its own script from the same Debian packages (their headers
# have ports, node names and the fault commands: kill-node, kill-master, ...). Both honour
# SERVICES_DATA_DIR, so a second set (test/cluster's, on other ports) is brought up and down by
# the same command with its own environment.
CLUSTER_SCRIPTS=(rabbitmq-cluster redis-cluster)

# What the cluster scripts need and do not install themselves: the servers (as `up` installs
# them) and jq, which reads rabbitmqctl's JSON.
cluster_packages() {
  [[ -n "$(rabbit_bin rabbitmq-server)" ]] || apt_install rabbitmq-server
  command -v redis-server >/dev/null || apt_install redis-server
  command -v jq >/dev/null || apt_install jq
}

# `cluster up|down|status`. up: RabbitMQ first (its three VMs boot slowest), then Redis; down in
# reverse; status runs both and exits 3 when either has a node that does not answer.
cluster_cmd() {
  local sub="${1:-}" s rc=0
  local scripts=("${CLUSTER_SCRIPTS[@]}")
  case "$sub" in
    up)
      cluster_packages
      for s in "${scripts[@]}"; do bash "$ROOT/scripts/$s.sh" up; done
      say "clusters up: ${scripts[*]}"
      ;;
    down)
      for ((s = ${#scripts[@]} - 1; s >= 0; s--)); do bash "$ROOT/scripts/${scripts[s]}.sh" down; done
      ;;
    status)
      for s in "${scripts[@]}"; do
        bash "$ROOT/scripts/$s.sh" status || rc=3
      done
      return "$rc"
      ;;
    *)
      usage >&2
      return 1
      ;;
  esac
}

# ---------------------------------------------------------------- commands

up_one() {
  local name=$1 port pid log
  port="$(port_of "$name")"
  if port_open "$port"; then
    if pid="$(our_pid "$name")"; then
      say "$name: already answering on $HOST:$port (started by this script, pid $pid), reusing"
    else
      say "$name: already answering on $HOST:$port, reusing"
    fi
    return 0
  fi
  # Our process is alive but not answering yet (e.g. another `up` is still
  # booting it): wait for it instead of starting a second copy.
  if pid="$(our_pid "$name")"; then
    log="$LOGS/$name.log"
    say "$name: our process (pid $pid) is running but $HOST:$port is not answering yet, waiting"
    if [[ $name == rabbitmq ]]; then
      wait_port "$name" "$port" "$RABBITMQ_WAIT" "$pid" "$log"
    else
      wait_port "$name" "$port" "$DEFAULT_WAIT" "$pid" "$log"
    fi
    return 0
  fi
  "start_$name"
}

down_one() {
  local name=$1 pid
  if ! pid="$(our_pid "$name")"; then
    [[ $name == rabbitmq ]] && stop_rabbitmq_beam
    say "$name: not started by this script, nothing to stop"
    return 0
  fi
  say "$name: stopping pid $pid"
  if [[ $name == postgres ]]; then
    stop_postgres "$pid"
  else
    # SIGTERM is a clean shutdown for the others: redis flushes the AOF, the
    # rabbitmq-server wrapper runs a graceful broker stop, ferretdb closes its
    # PostgreSQL connections.
    kill -TERM "$pid" 2>/dev/null || true
  fi
  wait_gone_or_kill "$name" "$pid" "$STOP_WAIT"
  [[ $name == rabbitmq ]] && stop_rabbitmq_beam
  rm -f "$(pid_file "$name")"
  say "$name: stopped"
}

status_one() {
  local name=$1 port pid state owner
  port="$(port_of "$name")"
  if port_open "$port"; then state="answering"; else state="not answering"; fi
  if pid="$(our_pid "$name")"; then
    owner="ours (pid $pid)"
  elif [[ $state == answering ]]; then
    owner="external (not started by this script)"
  else
    owner="-"
  fi
  printf '%-9s %s:%-6s %-14s %s\n' "$name" "$HOST" "$port" "$state" "$owner"
  [[ $state == answering ]]
}

usage() {
  cat <<EOF
usage: $(basename "$0") up|down|status [rabbitmq|redis|postgres|ferretdb ...]
       $(basename "$0") cluster up|down|status

  up      start RabbitMQ ($HOST:$RABBITMQ_PORT), Redis ($HOST:$REDIS_PORT), PostgreSQL
          ($HOST:$POSTGRES_PORT) and FerretDB on it ($HOST:$MONGO_PORT) unless
          something already answers there
  down    stop the servers this script started (by PID file in .data/pids),
          FerretDB before PostgreSQL
  status  show whether each port answers and whether it is ours or external
          (exit 3 if any server is not answering)

  cluster up|down|status
          the same for the clustered engines: a 3-node RabbitMQ cluster
          (scripts/rabbitmq-cluster.sh, AMQP $HOST:5701-5703) and a Redis
          Cluster of 3 masters and 3 replicas (scripts/redis-cluster.sh,
          $HOST:7001-7006); status exits 3 if a node does not answer

Ports: RABBITMQ_PORT, REDIS_PORT, POSTGRES_PORT, MONGO_PORT. State and logs: .data/ or SERVICES_DATA_DIR.
RabbitMQ node: RABBITMQ_NODENAME (notif@localhost), RABBITMQ_DIST_PORT (default port + 20000).
Clusters: RABBITMQ_CLUSTER_PORT, RABBITMQ_CLUSTER_NAME, REDIS_CLUSTER_PORT (their scripts' headers).
EOF
}

main() {
  local cmd="${1:-}" name i rc=0 selected=()
  case "$cmd" in
    up | down | status) ;;
    cluster)
      mkdir -p "$DATA"
      cluster_cmd "${@:2}"
      return
      ;;
    -h | --help | help) usage; return 0 ;;
    *) usage >&2; return 1 ;;
  esac
  for name in RABBITMQ_PORT REDIS_PORT POSTGRES_PORT MONGO_PORT; do
    [[ "${!name}" =~ ^[0-9]+$ ]] || die "$name must be a port number, got '${!name}'"
  done
  [[ -z "$RABBIT_DIST_PORT" || "$RABBIT_DIST_PORT" =~ ^[0-9]+$ ]] || die "RABBITMQ_DIST_PORT must be a port number, got '$RABBIT_DIST_PORT'"
  for name in "${@:2}"; do
    [[ " ${SERVICES[*]} " == *" $name "* ]] || die "unknown server '$name' (expected: ${SERVICES[*]})"
  done
  # Named servers in start order, whatever order they were given in: `down` walks this
  # backwards, so `down postgres ferretdb` still stops FerretDB first.
  for name in "${SERVICES[@]}"; do
    if [[ $# -le 1 || " ${*:2} " == *" $name "* ]]; then selected+=("$name"); fi
  done
  mkdir -p "$PIDS" "$LOGS"
  case "$cmd" in
    up)
      take_lock "$DATA/services.lock" 900
      for name in "${selected[@]}"; do up_one "$name"; done
      say "services up: ${selected[*]}"
      ;;
    down)
      take_lock "$DATA/services.lock" 900
      for ((i = ${#selected[@]} - 1; i >= 0; i--)); do down_one "${selected[i]}"; done
      ;;
    status)
      for name in "${selected[@]}"; do status_one "$name" || rc=3; done
      return "$rc"
      ;;
  esac
}

main "$@"
