#!/usr/bin/env bash
# A local Redis Cluster for development and tests: 3 masters and 3 replicas on 127.0.0.1, from the
# same Debian redis-server package scripts/services.sh uses (no Docker).
#
#   scripts/redis-cluster.sh up [PORT...]     start the nodes that do not answer, create the cluster
#                                             once (3 masters + 1 replica each), wait until it is ok;
#                                             with PORTs, only start those nodes (they rejoin)
#   scripts/redis-cluster.sh down             stop the nodes this script started (state is kept)
#   scripts/redis-cluster.sh status           each node's role and owner, and the cluster state
#   scripts/redis-cluster.sh kill-master [PORT]
#                                             SIGKILL a master (PORT, or the first master in port
#                                             order) and wait until its replica has taken over and
#                                             the cluster is ok again; `up` brings the node back, as
#                                             a replica of the new master
#   scripts/redis-cluster.sh kill PORT        SIGKILL one node (a replica, say: its master then goes
#                                             on alone, and what it accepts meanwhile exists once)
#   scripts/redis-cluster.sh reset            `down`, then delete the cluster's state (a new cluster
#                                             on the next `up`)
#
# Ports: REDIS_CLUSTER_PORT (7001) and the five after it; each node's cluster bus is its port +
# 10000. The services reach it with REDIS_CLUSTER_NODES=127.0.0.1:7001,127.0.0.1:7002,... (any of
# the nodes will do: the client discovers the rest).
# State: <state dir>/redis-cluster/<port>/ (nodes.conf and the append-only file), logs in
# <state dir>/logs/redis-cluster-<port>.log, PID files in <state dir>/pids; the state dir is the one
# scripts/services.sh uses (<repo>/.data, or SERVICES_DATA_DIR).
# REDIS_CLUSTER_NODE_TIMEOUT_MS (3000): how long a master may be unreachable before its replica
# takes over. Redis' default is 15000; 3 s keeps a failover test short and is still far above a
# loaded 2-core machine's scheduling hiccups.
#
# Exit codes: 0 success; 1 failure (message on stderr); `status` exits 3 when a node does not
# answer or the cluster is not ok, so `scripts/redis-cluster.sh status || scripts/redis-cluster.sh up`.
set -euo pipefail

# ROOT, DATA, PIDS, LOGS, HOST and the helpers (say, die, live_pid_from_file, wait_gone,
# take_lock, ...) shared with services.sh and rabbitmq-cluster.sh.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BASE="$DATA/redis-cluster"
FIRST_PORT="${REDIS_CLUSTER_PORT:-7001}"
NODE_TIMEOUT_MS="${REDIS_CLUSTER_NODE_TIMEOUT_MS:-3000}"
NODE_COUNT=6
START_WAIT=20
STOP_WAIT=30
# Forming the cluster and a failover: node timeout + election, with room for a loaded machine.
CLUSTER_WAIT=60

[[ "$FIRST_PORT" =~ ^[0-9]+$ ]] || die "REDIS_CLUSTER_PORT must be a port number, got '$FIRST_PORT'"
[[ "$NODE_TIMEOUT_MS" =~ ^[0-9]+$ ]] || die "REDIS_CLUSTER_NODE_TIMEOUT_MS must be a number, got '$NODE_TIMEOUT_MS'"
PORTS=()
for ((i = 0; i < NODE_COUNT; i++)); do PORTS+=("$((FIRST_PORT + i))"); done

cli() { # port args...
  redis-cli -h "$HOST" -p "$1" "${@:2}"
}

answers() { # port
  [[ "$(cli "$1" PING 2>/dev/null)" == PONG ]]
}

pid_file() { echo "$PIDS/redis-cluster-$1.pid"; }
log_file() { echo "$LOGS/redis-cluster-$1.log"; }

# Our live redis-server on that port, by PID file; the command line (`redis-server
# 127.0.0.1:7001 [cluster]`) guards against a reused PID. A stale file is removed quietly.
our_pid() { # port
  live_pid_from_file "$(pid_file "$1")" redis-server ":$1"
}

info_field() { # port section field
  cli "$1" INFO "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^$3:\(.*\)$/\1/p"
}

role() { # port -> master | slave | ''
  cli "$1" ROLE 2>/dev/null | head -n 1 | tr -d '\r'
}

cluster_state() { # port -> ok | fail | ''
  cli "$1" CLUSTER INFO 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state:\(.*\)$/\1/p'
}

known_nodes() { # port
  cli "$1" CLUSTER INFO 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes:\(.*\)$/\1/p'
}

start_node() { # port
  local port=$1 dir="$BASE/$1" log
  log="$(log_file "$1")"
  command -v redis-server >/dev/null || die "redis-server is not installed (scripts/services.sh up installs it, or: apt-get install redis-server)"
  mkdir -p "$dir"
  say "redis $port: starting a cluster node (state in ${dir#"$ROOT"/})"
  # As scripts/services.sh's Redis: no config file, AOF on, RDB snapshots off. Cluster options:
  # nodes.conf lives next to the data, so a restarted node rejoins with its old identity;
  # require-full-coverage off keeps the other masters' slots answering while one master is down.
  # repl-diskless-sync-delay 0: Redis 7 otherwise waits 5 s for more replicas before it streams a
  # full sync, and a restarted master always needs one (an AOF keeps no replication ID); with one
  # replica per master there is nobody to wait for, and a master is not failover-ready until then.
  redis-server --bind "$HOST" --port "$port" --dir "$dir" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout "$NODE_TIMEOUT_MS" \
    --cluster-require-full-coverage no --repl-diskless-sync-delay 0 \
    --appendonly yes --save "" --daemonize yes \
    --pidfile "$(pid_file "$port")" --logfile "$log" 9>&- ||
    { show_log_tail "redis $port" "$log"; die "redis $port: redis-server failed to start"; }
}

wait_node() { # port
  local i
  for ((i = 0; i < START_WAIT * 4; i++)); do
    answers "$1" && return 0
    sleep 0.25
  done
  show_log_tail "redis $1" "$(log_file "$1")"
  die "redis $1: $HOST:$1 did not answer within ${START_WAIT}s (see log above)"
}

# True when every node answers, every node sees the cluster as ok, every replica has finished
# its sync with its master and all 16384 slots are served. "ok" alone comes seconds before the
# replicas hold the data: a master killed in between has nobody to take over.
cluster_ok() {
  local port
  for port in "${PORTS[@]}"; do
    answers "$port" || return 1
    [[ "$(cluster_state "$port")" == ok ]] || return 1
    if [[ "$(role "$port")" == slave ]]; then
      [[ "$(info_field "$port" replication master_link_status)" == up ]] || return 1
    fi
  done
  [[ "$(cli "${PORTS[0]}" CLUSTER INFO 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_slots_ok:\(.*\)$/\1/p')" == 16384 ]]
}

wait_cluster_ok() {
  local i
  for ((i = 0; i < CLUSTER_WAIT * 4; i++)); do
    cluster_ok && return 0
    sleep 0.25
  done
  cli "${PORTS[0]}" CLUSTER NODES >&2 || true
  die "the cluster did not report ok on every node within ${CLUSTER_WAIT}s"
}

create_cluster() {
  local port nodes=() fresh=0
  for port in "${PORTS[@]}"; do
    nodes+=("$HOST:$port")
    [[ "$(known_nodes "$port")" == 1 ]] && fresh=$((fresh + 1))
  done
  # Every node alone: a new cluster. Some alone and some joined: a node lost its state (its
  # directory was deleted); adding it back by hand is an operator's job, a local set is reset.
  if ((fresh == NODE_COUNT)); then
    say "redis cluster: creating 3 masters with 1 replica each on ports ${PORTS[*]}"
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$LOGS/redis-cluster-create.log" 2>&1 ||
      { tail -n 20 "$LOGS/redis-cluster-create.log" >&2; die "redis-cli --cluster create failed (log above)"; }
  elif ((fresh > 0)); then
    die "$fresh node(s) know no cluster while the others form one: run 'scripts/redis-cluster.sh reset' (deletes the local cluster's data)"
  fi
}

# Starts only the named nodes, which know their cluster from nodes.conf.
cmd_up_nodes() {
  local port
  for port in "$@"; do
    [[ " ${PORTS[*]} " == *" $port "* ]] || die "$port is not one of the cluster's ports (${PORTS[*]})"
    if answers "$port"; then say "redis $port: already answering"; continue; fi
    start_node "$port"
    wait_node "$port"
  done
}

cmd_kill() { # port
  local port="${1:-}" pid
  [[ -n "$port" ]] || die "kill needs a PORT"
  pid="$(our_pid "$port")" || die "redis $port was not started by this script; not killing it"
  say "redis $port: SIGKILL ($(role "$port"), pid $pid)"
  kill -KILL "$pid"
  wait_gone "$pid" 5 || die "redis $port: pid $pid did not die"
  rm -f "$(pid_file "$port")"
}

cmd_up() {
  local port pid started=()
  if (($# > 0)); then cmd_up_nodes "$@"; return; fi
  for port in "${PORTS[@]}"; do
    if answers "$port"; then
      if pid="$(our_pid "$port")"; then
        say "redis $port: already answering (started by this script, pid $pid), reusing"
      else
        say "redis $port: already answering, reusing"
      fi
      continue
    fi
    start_node "$port"
    started+=("$port")
  done
  for port in "${started[@]}"; do wait_node "$port"; done
  create_cluster
  wait_cluster_ok
  say "redis cluster: ok on $HOST:${PORTS[0]}-${PORTS[-1]} (REDIS_CLUSTER_NODES=$(nodes_list))"
}

nodes_list() {
  local port out=()
  for port in "${PORTS[@]}"; do out+=("$HOST:$port"); done
  (IFS=,; echo "${out[*]}")
}

stop_node() { # port
  local port=$1 pid
  if ! pid="$(our_pid "$port")"; then
    say "redis $port: not started by this script, nothing to stop"
    return 0
  fi
  say "redis $port: stopping pid $pid"
  # SIGTERM: redis flushes the AOF and saves nodes.conf before it exits.
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone_or_kill "redis $port" "$pid" "$STOP_WAIT"
  rm -f "$(pid_file "$port")"
}

cmd_down() {
  local i port replicas=() others=()
  # Replicas first: a master stopping before its replica would start a failover for nothing.
  for ((i = ${#PORTS[@]} - 1; i >= 0; i--)); do
    port=${PORTS[i]}
    if [[ "$(role "$port")" == slave ]]; then replicas+=("$port"); else others+=("$port"); fi
  done
  for port in "${replicas[@]}" "${others[@]}"; do stop_node "$port"; done
}

cmd_status() {
  local port pid state owner r rc=0 any=""
  for port in "${PORTS[@]}"; do
    if answers "$port"; then
      state="answering"
      r="$(role "$port")"
      [[ "$r" == slave ]] && r=replica
      any=$port
    else
      state="not answering"
      r="-"
      rc=3
    fi
    if pid="$(our_pid "$port")"; then owner="ours (pid $pid)"; elif [[ $state == answering ]]; then owner="external"; else owner="-"; fi
    printf 'redis-cluster %s:%-6s %-14s %-8s %s\n' "$HOST" "$port" "$state" "$r" "$owner"
  done
  if [[ -n "$any" ]]; then
    say "cluster_state: $(cluster_state "$any") (seen from $any)"
    [[ "$(cluster_state "$any")" == ok ]] || rc=3
  fi
  return "$rc"
}

# The replicas of a master, as ports, from its ROLE reply (master, offset, then ip, port, offset
# each). ROLE lists only replicas whose sync is done: one still loading could not take over.
replicas_of() { # port
  cli "$1" ROLE 2>/dev/null | tr -d '\r' | sed -n '4~3p'
}

cmd_kill_master() {
  local port="${1:-}" pid replicas r i started survivor
  if [[ -z "$port" ]]; then
    # A replica that has just (re)started is listed by its master only once its sync is done.
    for ((i = 0; i < CLUSTER_WAIT * 4; i++)); do
      for r in "${PORTS[@]}"; do
        if [[ "$(role "$r")" == master && -n "$(replicas_of "$r")" ]]; then port=$r; break; fi
      done
      [[ -n "$port" ]] && break
      sleep 0.25
    done
    [[ -n "$port" ]] || die "no master with a synced replica answers within ${CLUSTER_WAIT}s"
  fi
  [[ "$(role "$port")" == master ]] || die "redis $port is not a master (role: $(role "$port"))"
  for ((i = 0; i < CLUSTER_WAIT * 4; i++)); do
    replicas="$(replicas_of "$port")"
    [[ -n "$replicas" ]] && break
    sleep 0.25
  done
  [[ -n "$replicas" ]] || die "redis $port has no synced replica to take over within ${CLUSTER_WAIT}s"
  pid="$(our_pid "$port")" || die "redis $port was not started by this script; not killing it"
  for r in "${PORTS[@]}"; do
    [[ "$r" != "$port" ]] && answers "$r" && { survivor=$r; break; }
  done
  started=$(date +%s%N)
  say "redis $port: SIGKILL master (pid $pid); waiting for one of its replicas (${replicas//$'\n'/ }) to take over"
  kill -KILL "$pid"
  wait_gone "$pid" 5 || die "redis $port: pid $pid did not die"
  rm -f "$(pid_file "$port")"
  for ((i = 0; i < CLUSTER_WAIT * 10; i++)); do
    for r in $replicas; do
      if [[ "$(role "$r")" == master && "$(cluster_state "$survivor")" == ok ]]; then
        say "redis $r: took over from $port after $(( ($(date +%s%N) - started) / 1000000 )) ms"
        echo "$r" >"$BASE/last-takeover"
        return 0
      fi
    done
    sleep 0.1
  done
  die "no replica of $port took over within ${CLUSTER_WAIT}s"
}

lock_cluster() {
  mkdir -p "$DATA" "$PIDS" "$LOGS" "$BASE"
  take_lock "$DATA/redis-cluster.lock" 300
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    up) lock_cluster; cmd_up "${@:2}" ;;
    down) lock_cluster; cmd_down ;;
    status) cmd_status ;;
    kill-master) lock_cluster; cmd_kill_master "${2:-}" ;;
    kill) lock_cluster; cmd_kill "${2:-}" ;;
    reset)
      lock_cluster
      cmd_down
      say "redis cluster: deleting ${BASE#"$ROOT"/}"
      rm -rf "$BASE"
      ;;
    -h | --help | help) usage ;;
    *) usage >&2; return 1 ;;
  esac
}

main "$@"
