# shellcheck shell=bash
# Helpers shared by scripts/services.sh, scripts/rabbitmq-cluster.sh and scripts/redis-cluster.sh,
# which start, watch and stop local servers the same way. Sourced, never executed:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# What the caller provides:
#   - `set -euo pipefail` before sourcing (the helpers rely on it: `die` ends the script);
#   - fd 9 left to take_lock: every long-lived server the caller starts must get `9>&-` (or
#     `exec 9>&-` in its subshell), or it holds the lock for its whole life and blocks every
#     later run.
#
# What it sets, the layout the three scripts share (one set of servers per state dir):
#   ROOT   the checkout
#   DATA   the state dir: SERVICES_DATA_DIR, default <repo>/.data
#   PIDS   $DATA/pids, one PID file per server the scripts started
#   LOGS   $DATA/logs
#   HOST   127.0.0.1: every server listens on loopback only
#
#   say TEXT...                     one line on stdout
#   die TEXT...                     "error: TEXT" on stderr, then exit 1
#   port_open PORT                  a TCP connect to $HOST:PORT succeeds within 1 s
#   pid_matches PID MARKER...       PID is alive and its /proc/PID/cmdline contains every MARKER
#   live_pid_from_file FILE MARKER...
#                                   prints the PID in FILE when pid_matches; otherwise removes FILE
#                                   (process gone, or its PID reused by something else) and fails
#   wait_gone PID SECONDS           0 once PID is gone, 1 if it still lives after SECONDS
#   wait_gone_or_kill LABEL PID SECONDS
#                                   after the caller asked PID to stop: waits SECONDS, then SIGKILL
#                                   and 5 s more; dies "LABEL: pid PID did not exit" if still there
#   show_log_tail LABEL FILE...     the last 20 lines of each FILE that exists, on stderr
#   wait_port LABEL PORT SECONDS PID [LOGFILE...]
#                                   waits for $HOST:PORT to answer; dies (log tails first) when it
#                                   does not within SECONDS, or as soon as PID (if not empty) exits
#   take_lock LOCKFILE SECONDS      opens LOCKFILE on fd 9 and flocks it (when flock exists); dies
#                                   after SECONDS naming the running script ($0)
#   rabbit_node_files BASE          exports the file layout of one RabbitMQ node under BASE (both broker scripts)
#
# LABEL starts the helpers' own lines ("LABEL: answering on ...", "LABEL: last 20 lines of ..."):
# the server's name, "node 2", "redis 7003".

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  printf 'error: %s is a library: source it from a script, do not run it\n' "$0" >&2
  exit 1
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA="${SERVICES_DATA_DIR:-$ROOT/.data}"
# shellcheck disable=SC2034 # read by the scripts that source this file
PIDS="$DATA/pids"
# shellcheck disable=SC2034 # likewise
LOGS="$DATA/logs"
HOST=127.0.0.1

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A plain TCP connect is protocol-agnostic and needs no client binaries;
# "answers" is all we promise (a foreign server on the port is reused as is).
port_open() { # port
  # shellcheck disable=SC2016 # $0/$1 are expanded by the inner bash
  timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# The command line guards against PID reuse: a stale PID file must never make a script signal
# an unrelated process. Several markers when one is not specific enough (a program and its port).
pid_matches() { # pid marker...
  local cmdline marker
  kill -0 "$1" 2>/dev/null || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  for marker in "${@:2}"; do
    [[ "$cmdline" == *"$marker"* ]] || return 1
  done
}

# A stale file is removed quietly, so the next `up` starts afresh and `down` has nothing to signal.
live_pid_from_file() { # file marker...
  local pid
  [[ -s "$1" ]] || return 1
  read -r pid <"$1" || true
  if [[ "$pid" =~ ^[0-9]+$ ]] && pid_matches "$pid" "${@:2}"; then
    echo "$pid"
    return 0
  fi
  rm -f "$1"
  return 1
}

wait_gone() { # pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# The caller sends its own stop request first (SIGTERM, or pg_ctl's fast shutdown); this is the
# bound on it, so `down` never hangs on a server that ignores the request.
wait_gone_or_kill() { # label pid seconds
  wait_gone "$2" "$3" && return 0
  say "$1: still running after ${3}s, sending SIGKILL"
  kill -KILL "$2" 2>/dev/null || true
  wait_gone "$2" 5 || die "$1: pid $2 did not exit"
}

show_log_tail() { # label logfile...
  local f
  for f in "${@:2}"; do
    [[ -f "$f" ]] || continue
    printf '%s: last 20 lines of %s:\n' "$1" "$f" >&2
    tail -n 20 "$f" | sed 's/^/    /' >&2
  done
}

# Fails fast if the process we launched died, instead of sitting out the whole bound.
wait_port() { # label port seconds pid logfile...
  local label=$1 port=$2 secs=$3 pid=$4 i
  for ((i = 0; i < secs * 4; i++)); do
    if port_open "$port"; then
      say "$label: answering on $HOST:$port"
      return 0
    fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail "$label" "${@:5}"
      die "$label: process $pid exited before $HOST:$port answered (see log above)"
    fi
    sleep 0.25
  done
  show_log_tail "$label" "${@:5}"
  die "$label: $HOST:$port did not answer within ${secs}s (see log above)"
}

# Serialises concurrent runs of one script (several engineers or test runners on one machine), so
# two invocations never start the same server twice. Held on fd 9 until the script exits.
take_lock() { # lockfile seconds
  exec 9>"$1"
  if command -v flock >/dev/null; then
    flock -w "$2" 9 || die "timed out waiting for another ${0##*/} run to finish"
  fi
}

# The files of one RabbitMQ node under BASE, and Erlang distribution and epmd kept on loopback:
# what services.sh's broker and each node of rabbitmq-cluster.sh set alike, so that no state is
# read from or written to /etc or /var. The caller sets the node's name, ports and HOME (cookie).
rabbit_node_files() { # base
  export RABBITMQ_MNESIA_BASE="$1/mnesia"
  export RABBITMQ_LOG_BASE="$1/log"
  # Main log to stdout, which the caller redirects into its log file.
  export RABBITMQ_LOGS=-
  export RABBITMQ_PID_FILE="$1/beam.pid"
  export RABBITMQ_CONFIG_FILE="$1/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$1/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$1/rabbitmq-env.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$1/enabled_plugins"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export ERL_EPMD_ADDRESS="$HOST"
}
