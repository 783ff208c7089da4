#!/usr/bin/env bash
# A local 3-node RabbitMQ cluster on loopback, from the same Debian package scripts/services.sh
# runs the single broker from (no Docker): for quorum queues (AMQP_QUEUE_TYPE=quorum) and the
# tests that stop the node leading a queue.
#
#   scripts/rabbitmq-cluster.sh up            start the nodes that are not answering, join them
#                                             into one cluster (idempotent)
#   scripts/rabbitmq-cluster.sh down          stop the nodes this script started
#   scripts/rabbitmq-cluster.sh status        each node, and the cluster's running members
#                                             (exit 3 when a node does not answer)
#   scripts/rabbitmq-cluster.sh stop-node N   stop node N (1-3) cleanly
#   scripts/rabbitmq-cluster.sh kill-node N   SIGKILL node N's Erlang VM (a crash)
#   scripts/rabbitmq-cluster.sh start-node N  start node N again; it rejoins the cluster
#   scripts/rabbitmq-cluster.sh ctl N ARGS    rabbitmqctl against node N, e.g.
#                                             ctl 1 list_queues name type leader members
#   scripts/rabbitmq-cluster.sh urls          the RABBITMQ_URL list for the three nodes
#
# Node N is rabbit-cN@localhost (RABBITMQ_CLUSTER_NAME, default rabbit-c) with
#   AMQP          RABBITMQ_CLUSTER_PORT + N - 1      (5701, 5702, 5703)
#   distribution  AMQP port + 20000                  (25701-25703; CLI tools use + 30000..)
#   management    AMQP port + 10000                  (15701-15703, if the plugin is enabled;
#                                                    none is by default, as in services.sh)
# State and logs live next to services.sh's, in <repo>/.data (or SERVICES_DATA_DIR):
# rabbitmq-cN/ per node, logs/rabbitmq-cN.log, pids/rabbitmq-cN.pid. The three nodes share an
# Erlang cookie of their own, rabbitmq-cluster/.erlang.cookie (HOME of the nodes and of `ctl`),
# so the cluster never depends on the invoking user's ~/.erlang.cookie.
#
# One deliberate difference from a production broker (advanced.config below): the at-least-once
# dead-letter worker of a quorum queue re-sends unconfirmed dead letters after 5 s instead of
# RabbitMQ's 180 s, so a test that dead-letters while a target queue elects a new leader does not
# wait three minutes. Production keeps the default: a retry may then come back up to 3 min late
# after a node loss, never lost (docs/reliability.md).
set -euo pipefail

# ROOT, DATA, PIDS, LOGS, HOST and the helpers (say, die, port_open, live_pid_from_file,
# wait_gone, wait_port, take_lock, ...) shared with services.sh and redis-cluster.sh.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SHARED="$DATA/rabbitmq-cluster"
BASE_PORT="${RABBITMQ_CLUSTER_PORT:-5701}"
NAME="${RABBITMQ_CLUSTER_NAME:-rabbit-c}"
NODES=(1 2 3)

# Boot bound per node: three Erlang VMs booting at once on two shared cores are slow.
BOOT_WAIT=120
STOP_WAIT=30

node_name() { echo "$NAME$1@localhost"; }
amqp_port() { echo $((BASE_PORT + $1 - 1)); }
slot() { echo "rabbitmq-c$1"; } # file names: pids/<slot>.pid, logs/<slot>.log, <slot>/
pid_file() { echo "$PIDS/$(slot "$1").pid"; }
log_file() { echo "$LOGS/$(slot "$1").log"; }

# The PID of our rabbitmq-server wrapper for node N; a stale PID file (process gone, or the PID
# reused by something else) is removed quietly, so `down` never signals an unrelated process.
our_pid() { # node
  live_pid_from_file "$(pid_file "$1")" rabbitmq-server
}

# The node's Erlang VM, from the PID file the broker writes itself; only if it is this node's:
# a beam whose working directory is the node's state dir (launch starts it there; 3.10 does not
# put the node name on the VM's command line).
beam_pid() {
  local base pid
  base="$DATA/$(slot "$1")"
  [[ -s "$base/beam.pid" ]] || return 1
  read -r pid <"$base/beam.pid" || true
  [[ "$pid" =~ ^[0-9]+$ ]] && pid_matches "$pid" beam && [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$base" ]] && echo "$pid"
}

# Waits for node N's AMQP port, failing as soon as the broker launch started has exited.
wait_node() { # node
  local n=$1 port pid=""
  port="$(amqp_port "$n")"
  # The PID launch recorded, checked for life only: until the launched subshell has exec'd the
  # broker, its command line is still this script's, and our_pid would call the file stale (and
  # remove it) on a loaded machine, failing a boot that then goes on without a PID file.
  if [[ -s "$(pid_file "$n")" ]]; then read -r pid <"$(pid_file "$n")" || true; fi
  # No PID recorded: no broker of ours to wait for (wait_port would wait out the whole bound).
  if [[ ! "$pid" =~ ^[0-9]+$ ]] && ! port_open "$port"; then
    show_log_tail "node $n" "$(log_file "$n")"
    die "node $n: the broker exited before $HOST:$port answered (see log above)"
  fi
  wait_port "node $n" "$port" "$BOOT_WAIT" "$pid" "$(log_file "$n")"
}

# As in services.sh: Debian's /usr/sbin wrappers switch to the rabbitmq user (and its cookie);
# the real scripts in /usr/lib/rabbitmq/bin run as anyone.
rabbit_bin() { # rabbitmq-server | rabbitmqctl
  if [[ -x "/usr/lib/rabbitmq/bin/$1" ]]; then
    echo "/usr/lib/rabbitmq/bin/$1"
  else
    command -v "$1" || die "$1 not found: install the Debian package (scripts/services.sh up installs it)"
  fi
}

# Everything node N (and rabbitmqctl, which must agree on node name and cookie) needs, so that
# nothing is read from or written to /etc or /var; the same variables as services.sh's rabbit_env.
rabbit_env() { # node
  local n=$1 base
  base="$DATA/$(slot "$n")"
  RABBITMQ_NODENAME="$(node_name "$n")"
  RABBITMQ_NODE_PORT="$(amqp_port "$n")"
  export RABBITMQ_NODENAME RABBITMQ_NODE_PORT
  export RABBITMQ_NODE_IP_ADDRESS="$HOST"
  export RABBITMQ_DIST_PORT=$((BASE_PORT + n - 1 + 20000))
  rabbit_node_files "$base"
  # The shared cookie: Erlang reads $HOME/.erlang.cookie.
  export HOME="$SHARED"
}

ensure_cookie() {
  mkdir -p "$SHARED"
  if [[ ! -s "$SHARED/.erlang.cookie" ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F' >"$SHARED/.erlang.cookie")
  fi
  # Erlang refuses a cookie file others can read.
  chmod 400 "$SHARED/.erlang.cookie"
}

write_node_config() { # node
  local n=$1 base port
  base="$DATA/$(slot "$n")"
  port="$(amqp_port "$n")"
  mkdir -p "$base/mnesia" "$base/log"
  [[ -f "$base/enabled_plugins" ]] || echo '[].' >"$base/enabled_plugins"
  [[ -f "$base/rabbitmq-env.conf" ]] || : >"$base/rabbitmq-env.conf"
  cat >"$base/rabbitmq.conf" <<'EOF'
# Generated by scripts/rabbitmq-cluster.sh. Listener address and port come from the
# environment (RABBITMQ_NODE_IP_ADDRESS / RABBITMQ_NODE_PORT).
loopback_users.guest = true
# With three nodes, the side of a partition without a majority pauses instead of diverging.
cluster_partition_handling = pause_minority
EOF
  cat >"$base/advanced.config" <<EOF
%% Generated by scripts/rabbitmq-cluster.sh.
[
  %% Local only: re-send unconfirmed at-least-once dead letters after 5 s (RabbitMQ: 180 s).
  {rabbit, [{dead_letter_worker_publisher_confirm_timeout, 5000}]},
  %% The management listener, should someone enable the plugin: one port per node.
  {rabbitmq_management, [{tcp_config, [{port, $((port + 10000))}]}]}
].
EOF
}

# Starts node N in the background (foreground broker under setsid nohup, as services.sh does:
# the wrapper turns SIGTERM into a clean shutdown and the log lands in our file). Returns at once.
launch() { # node
  local n=$1 server base log pid
  server="$(rabbit_bin rabbitmq-server)"
  base="$DATA/$(slot "$n")"
  log="$(log_file "$n")"
  write_node_config "$n"
  say "node $n: starting $(node_name "$n") on $HOST:$(amqp_port "$n") (state in $base)"
  (
    exec 9>&- # never let a long-lived server inherit the lock (see take_lock, scripts/lib/common.sh)
    rabbit_env "$n"
    cd "$base"
    exec setsid nohup "$server" >>"$log" 2>&1 </dev/null
  ) &
  pid=$!
  echo "$pid" >"$(pid_file "$n")"
}

ctl() { # node args...
  local n=$1
  shift
  (
    rabbit_env "$n"
    exec "$(rabbit_bin rabbitmqctl)" -n "$(node_name "$n")" "$@"
  )
}

# Node N is running and a member of node `of`'s cluster (its name is in the other's status).
is_member() { # node of
  local status
  status="$(ctl "$2" cluster_status --formatter json 2>/dev/null)" || return 1
  jq -e --arg n "$(node_name "$1")" '.running_nodes | index($n) != null' >/dev/null <<<"$status"
}

# Starts whatever is not answering (all at once: a stopped cluster's nodes wait for each other
# at boot), then waits for each node's AMQP port.
start_nodes() { # node...
  local n started=()
  for n in "$@"; do
    if port_open "$(amqp_port "$n")"; then
      say "node $n: already answering on $HOST:$(amqp_port "$n"), reusing"
    elif our_pid "$n" >/dev/null; then
      say "node $n: our broker is running but not answering yet, waiting"
      started+=("$n")
    else
      launch "$n"
      started+=("$n")
    fi
  done
  for n in "${started[@]}"; do wait_node "$n"; done
}

# Joins nodes 2 and 3 to node 1's cluster unless they already are members. join_cluster resets
# the joining node, so a node is joined only while it has no cluster of its own worth keeping
# (a fresh node, or one that booted alone).
join_nodes() {
  local n
  for n in 2 3; do
    if is_member "$n" 1; then
      continue
    fi
    say "node $n: joining $(node_name 1)'s cluster"
    ctl "$n" stop_app >/dev/null
    ctl "$n" join_cluster "$(node_name 1)" >/dev/null
    ctl "$n" start_app >/dev/null
  done
  for _ in {1..120}; do
    if is_member 2 1 && is_member 3 1; then
      say "cluster: $(node_name 1), $(node_name 2), $(node_name 3) running"
      return 0
    fi
    sleep 0.5
  done
  die "cluster: nodes 2 and 3 did not show up as running members of node 1's cluster"
}

stop_node() { # node signal
  local n=$1 sig=$2 pid beam
  if [[ $sig == KILL ]]; then
    # A crash: the VM dies without a word to its peers (they notice through the lost link).
    if beam="$(beam_pid "$n")"; then
      say "node $n: SIGKILL to the Erlang VM (pid $beam)"
      kill -KILL "$beam" 2>/dev/null || true
      wait_gone "$beam" 5 || true
    fi
  fi
  if pid="$(our_pid "$n")"; then
    [[ $sig == KILL ]] || say "node $n: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone_or_kill "node $n" "$pid" "$STOP_WAIT"
  elif [[ $sig != KILL ]]; then
    say "node $n: not started by this script, nothing to stop"
  fi
  # The wrapper killed hard can leave the VM behind; it is ours only if it names this node.
  if beam="$(beam_pid "$n")"; then
    kill -TERM "$beam" 2>/dev/null || true
    wait_gone "$beam" "$STOP_WAIT" || kill -KILL "$beam" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$n")" "$DATA/$(slot "$n")/beam.pid"
}

status() {
  local n port state owner pid rc=0 members=""
  for n in "${NODES[@]}"; do
    port="$(amqp_port "$n")"
    if port_open "$port"; then state=answering; else state="not answering"; rc=3; fi
    if pid="$(our_pid "$n")"; then owner="ours (pid $pid)"; elif [[ $state == answering ]]; then owner=external; else owner=-; fi
    printf '%-22s %s:%-6s %-14s %s\n' "$(node_name "$n")" "$HOST" "$port" "$state" "$owner"
    if [[ -z "$members" && $state == answering ]]; then
      members="$(ctl "$n" cluster_status --formatter json 2>/dev/null | jq -r '.running_nodes | join(", ")' || true)"
    fi
  done
  say "running members: ${members:-none}"
  return "$rc"
}

node_arg() { # value
  [[ "$1" =~ ^[123]$ ]] || die "expected a node number 1, 2 or 3, got '${1:-}'"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}" n
  [[ "$BASE_PORT" =~ ^[0-9]+$ ]] || die "RABBITMQ_CLUSTER_PORT must be a port number, got '$BASE_PORT'"
  mkdir -p "$PIDS" "$LOGS"
  case "$cmd" in
    up)
      command -v jq >/dev/null || die "jq is needed (apt-get install -y jq)"
      take_lock "$DATA/rabbitmq-cluster.lock" 900
      ensure_cookie
      start_nodes "${NODES[@]}"
      join_nodes
      say "rabbitmq cluster up: RABBITMQ_URL=$(urls)"
      ;;
    down)
      take_lock "$DATA/rabbitmq-cluster.lock" 900
      for ((n = ${#NODES[@]}; n >= 1; n--)); do stop_node "$n" TERM; done
      ;;
    status) status ;;
    stop-node | kill-node)
      node_arg "${2:-}"
      take_lock "$DATA/rabbitmq-cluster.lock" 900
      if [[ $cmd == kill-node ]]; then stop_node "$2" KILL; else stop_node "$2" TERM; fi
      ;;
    start-node)
      node_arg "${2:-}"
      take_lock "$DATA/rabbitmq-cluster.lock" 900
      ensure_cookie
      start_nodes "$2"
      ;;
    ctl)
      node_arg "${2:-}"
      ctl "$2" "${@:3}"
      ;;
    urls) urls ;;
    -h | --help | help) usage ;;
    *) usage >&2; return 1 ;;
  esac
}

urls() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("amqp://guest:guest@$HOST:$(amqp_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

main "$@"
