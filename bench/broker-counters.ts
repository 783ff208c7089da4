import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import { isLocalHost, localPort, pidsListeningOn } from './proc-sockets.js';

const run = promisify(execFile);

/**
 * RabbitMQ's own message counters, read at both ends of a measured span. Two sources, the first
 * that answers:
 *
 * - `rabbitmqctl`, for a broker on this machine: RabbitMQ's global counters
 *   (`rabbit_global_counters`, always on since 3.9, no plugin needed) read with `rabbitmqctl
 *   eval` on the node that listens on the AMQP port. Exact at the instant they are read, but the
 *   whole broker's: so the same eval lists every client connection's traffic, and the bytes of
 *   connections that are not the run's services' (`otherClientBytes`) say whether other work
 *   was counted too (heartbeats alone are 8 bytes each). Needs the CLI and the node's Erlang
 *   cookie. Without the management plugin RabbitMQ 3.10 keeps no per-queue or per-exchange
 *   counts at all (`list_queues` has no publish or deliver column).
 * - `management`, for a broker the CLI cannot reach (another host, a container): the management
 *   plugin's HTTP API (`http://<AMQP host>:<AMQP port + 10000>`, 15672 for 5672), summed over
 *   the run's queues and exchanges (their names carry its AMQP prefix), so other work does not
 *   count. But late: the plugin shows counts as of its last statistics round, which trailed by
 *   3 s with `collect_statistics_interval` at 1 s (5 s by default), so a short span's counts are
 *   off by that much traffic at each end.
 */
export interface BrokerSnapshot {
  source: 'management' | 'rabbitmqctl';
  /** Messages clients published (a fan-out counts once, however many queues it reaches). */
  publishes: number;
  /** Messages handed to consumers (and basic.get), redeliveries included. */
  deliveries: number;
  redeliveries: number;
  acks: number;
  /** Messages dead-lettered (expired TTLs of the delay queues, rejections); null when the source has no count. */
  deadLettered: number | null;
  /** rabbitmqctl: bytes each client connection has sent and received so far, by `host:port` of the client. */
  connections?: Record<string, number>;
}

export interface BrokerCounts extends Omit<BrokerSnapshot, 'source' | 'connections'> {
  source: BrokerSnapshot['source'];
  /** `run`: only the run's queues and exchanges; `broker`: everything on the broker (see above). */
  scope: 'run' | 'broker';
  /**
   * rabbitmqctl: bytes to and from client connections other than the run's services during the
   * span (connections open at its end). More than heartbeats means the counts include other work.
   */
  otherClientBytes: number | null;
}

export interface BrokerCounterSource {
  source: BrokerSnapshot['source'];
  read(): Promise<BrokerSnapshot>;
}

/** A management API entry (`/api/queues/<vhost>`, `/api/exchanges/<vhost>`), only what is used. */
interface ManagementEntry {
  name: string;
  message_stats?: Partial<
    Record<'publish' | 'publish_in' | 'publish_out' | 'deliver_get' | 'redeliver' | 'ack', number>
  >;
}

/**
 * Sums the run's queues and exchanges. Clients mostly publish through the default exchange,
 * which belongs to every run: those publishes are the run's queues' `publish` minus what its
 * named exchanges routed to them (`publish_out`), plus what was published into those exchanges
 * (`publish_in`, once per message however many queues it reached).
 */
export function sumManagement(queues: ManagementEntry[], exchanges: ManagementEntry[], prefix: string): BrokerSnapshot {
  const ours = (list: ManagementEntry[]) => list.filter((e) => e.name.startsWith(prefix));
  const sum = (list: ManagementEntry[], key: keyof NonNullable<ManagementEntry['message_stats']>) =>
    ours(list).reduce((total, e) => total + (e.message_stats?.[key] ?? 0), 0);
  return {
    source: 'management',
    publishes: sum(queues, 'publish') - sum(exchanges, 'publish_out') + sum(exchanges, 'publish_in'),
    deliveries: sum(queues, 'deliver_get'),
    redeliveries: sum(queues, 'redeliver'),
    acks: sum(queues, 'ack'),
    deadLettered: null,
  };
}

/** The management API next to the broker of `amqpUrl`, with its credentials; undefined when it does not answer. */
export async function managementSource(amqpUrl: string, prefix: string): Promise<BrokerCounterSource | undefined> {
  const amqp = new URL(amqpUrl);
  const port = Number(amqp.port || (amqp.protocol === 'amqps:' ? 5671 : 5672)) + 10_000;
  const vhost = encodeURIComponent(decodeURIComponent(amqp.pathname.slice(1)) || '/');
  const base = `http://${amqp.hostname}:${port}/api`;
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(amqp.username || 'guest')}:${decodeURIComponent(amqp.password || 'guest')}`).toString('base64')}`;
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: auth }, signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`GET ${base}${path}: HTTP ${res.status}`);
    return (await res.json()) as ManagementEntry[];
  };
  try {
    await get(`/exchanges/${vhost}?columns=name`);
  } catch {
    return undefined;
  }
  return {
    source: 'management',
    read: async () => {
      const [queues, exchanges] = await Promise.all([
        get(`/queues/${vhost}?columns=name,message_stats`),
        get(`/exchanges/${vhost}?columns=name,message_stats`),
      ]);
      return sumManagement(queues, exchanges, prefix);
    },
  };
}

/**
 * Sums `rabbit_global_counters:overview()` over its label sets (protocol, queue type,
 * dead-letter strategy), printed as `counter <name> <value>` lines, then one
 * `connection <client host> <client port> <bytes received + sent>` line per client connection.
 */
const GLOBAL_COUNTERS_EVAL =
  'S = maps:fold(fun(_, C, A) -> maps:fold(fun(K, V, B) -> maps:update_with(K, fun(X) -> X + V end, V, B) end, A, C) end, #{}, rabbit_global_counters:overview()), ' +
  '[io:format("counter ~s ~b~n", [K, V]) || {K, V} <- lists:sort(maps:to_list(S))], ' +
  '[io:format("connection ~s ~b ~b~n", [inet:ntoa(proplists:get_value(peer_host, I)), proplists:get_value(peer_port, I), proplists:get_value(recv_oct, I) + proplists:get_value(send_oct, I)]) ' +
  '|| I <- rabbit_networking:connection_info_all([peer_host, peer_port, recv_oct, send_oct]), is_integer(proplists:get_value(peer_port, I))], ok.';

/** The lines GLOBAL_COUNTERS_EVAL prints, as counts. */
export function parseGlobalCounters(output: string): BrokerSnapshot {
  const values = new Map<string, number>();
  const connections: Record<string, number> = {};
  for (const line of output.split('\n')) {
    const counter = /^counter (\w+) (-?\d+)$/.exec(line.trim());
    if (counter?.[1]) values.set(counter[1], Number(counter[2]));
    const connection = /^connection (\S+) (\d+) (\d+)$/.exec(line.trim());
    if (connection) connections[`${connection[1]}:${connection[2]}`] = Number(connection[3]);
  }
  if (!values.has('messages_received_total'))
    throw new Error(`rabbitmqctl eval printed no global counters: ${output.slice(0, 300)}`);
  const value = (name: string) => values.get(name) ?? 0;
  let deadLettered = 0;
  // `..._confirmed_total` counts at-least-once dead-letters confirmed by their target: a subset.
  for (const [name, v] of values)
    if (name.startsWith('messages_dead_lettered_') && name !== 'messages_dead_lettered_confirmed_total')
      deadLettered += v;
  return {
    source: 'rabbitmqctl',
    publishes: value('messages_received_total'),
    deliveries: value('messages_delivered_total'),
    redeliveries: value('messages_redelivered_total'),
    acks: value('messages_acknowledged_total'),
    deadLettered,
    connections,
  };
}

/** `-sname`/`-name` on an Erlang VM's command line, else RABBITMQ_NODENAME in its environment. */
export function nodeNameOf(cmdline: string[], environ: string[]): string | undefined {
  for (let i = 0; i < cmdline.length - 1; i++)
    if (cmdline[i] === '-sname' || cmdline[i] === '-name') return cmdline[i + 1];
  return environ.find((e) => e.startsWith('RABBITMQ_NODENAME='))?.slice('RABBITMQ_NODENAME='.length) || undefined;
}

const RABBITMQCTL = ['/usr/lib/rabbitmq/bin/rabbitmqctl', '/usr/sbin/rabbitmqctl'];

/**
 * rabbitmqctl against the node listening on the AMQP port, with that node's HOME (its Erlang
 * cookie); undefined when the broker is not local, the CLI is missing or the node does not answer.
 * The unwrapped CLI first: Debian's /usr/sbin wrapper switches to the rabbitmq user and its cookie.
 */
export async function rabbitmqctlSource(amqpUrl: string): Promise<BrokerCounterSource | undefined> {
  const port = localPort(amqpUrl);
  const pid = port === undefined ? undefined : pidsListeningOn([port]).get(port);
  const cli = RABBITMQCTL.find((p) => existsSync(p));
  if (pid === undefined || !cli) return undefined;
  let node: string | undefined;
  let home = os.homedir();
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    node = nodeNameOf(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'), environ);
    home = environ.find((e) => e.startsWith('HOME='))?.slice(5) || home;
  } catch {
    // Another user's broker: the CLI's defaults may still reach it.
  }
  const args = [...(node ? ['-n', node] : []), '-q', 'eval', GLOBAL_COUNTERS_EVAL];
  const read = async () =>
    parseGlobalCounters((await run(cli, args, { env: { ...process.env, HOME: home }, timeout: 30_000 })).stdout);
  try {
    await read();
  } catch {
    return undefined;
  }
  return { source: 'rabbitmqctl', read };
}

/** The first source that answers: the exact global counters of a local broker, else the run's counts from the management API. */
export async function brokerCounterSource(amqpUrl: string, prefix: string): Promise<BrokerCounterSource | undefined> {
  return (await rabbitmqctlSource(amqpUrl)) ?? (await managementSource(amqpUrl, prefix));
}

/** Bytes of the connections open at `after` that are not from `ourPorts` on this machine, since `before`. */
export function otherClientBytes(
  before: Record<string, number>,
  after: Record<string, number>,
  ourPorts: Set<number>,
): number {
  let bytes = 0;
  for (const [client, total] of Object.entries(after)) {
    const host = client.slice(0, client.lastIndexOf(':'));
    const port = Number(client.slice(client.lastIndexOf(':') + 1));
    if (isLocalHost(host) && ourPorts.has(port)) continue;
    bytes += total - (before[client] ?? 0);
  }
  return bytes;
}

/** What happened between two snapshots of the same source; `ourPorts`: the run's services' client ports. */
export function brokerDelta(before: BrokerSnapshot, after: BrokerSnapshot, ourPorts: Set<number>): BrokerCounts {
  return {
    source: after.source,
    scope: after.source === 'management' ? 'run' : 'broker',
    otherClientBytes:
      before.connections && after.connections
        ? otherClientBytes(before.connections, after.connections, ourPorts)
        : null,
    publishes: after.publishes - before.publishes,
    deliveries: after.deliveries - before.deliveries,
    redeliveries: after.redeliveries - before.redeliveries,
    acks: after.acks - before.acks,
    deadLettered:
      after.deadLettered === null || before.deadLettered === null ? null : after.deadLettered - before.deadLettered,
  };
}
