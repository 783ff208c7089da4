import { execFile, execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './process.js';

const run = promisify(execFile);
const SCRIPT = resolve(ROOT, 'scripts/rabbitmq-cluster.sh');

export type NodeNumber = 1 | 2 | 3;
export const NODES: NodeNumber[] = [1, 2, 3];

/** What `rabbitmqctl list_queues name type leader members online --formatter json` says of a queue. */
export interface QueueReplicas {
  name: string;
  type: string;
  leader: string;
  members: string[];
  online: string[];
}

/**
 * The variables of scripts/rabbitmq-cluster.sh that place a cluster: its state dir
 * (SERVICES_DATA_DIR), AMQP ports (RABBITMQ_CLUSTER_PORT and the two after it) and node names
 * (RABBITMQ_CLUSTER_NAME). Empty: the script's defaults, the development cluster on 5701-5703.
 */
export type ClusterPlacement = Partial<
  Record<'SERVICES_DATA_DIR' | 'RABBITMQ_CLUSTER_PORT' | 'RABBITMQ_CLUSTER_NAME', string>
>;

/**
 * A local 3-node cluster of scripts/rabbitmq-cluster.sh, driven from tests: `up` is idempotent
 * (the first run boots three nodes, about 30 s; later ones find them answering).
 */
export function rabbitClusterAt(placement: ClusterPlacement = {}) {
  const env = { ...process.env, ...placement };
  const script = async (...args: string[]): Promise<string> => {
    const { stdout } = await run('bash', [SCRIPT, ...args], { env, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  };
  const cluster = {
    /** RABBITMQ_URL for the three nodes (the script prints it; the ports are fixed). */
    urls: (): string => execFileSync('bash', [SCRIPT, 'urls'], { env, encoding: 'utf8' }).trim(),
    /** One node's URL, for a connection that must go to that node. */
    urlOf: (n: NodeNumber): string => cluster.urls().split(',')[n - 1]!,
    up: () => script('up'),
    down: () => script('down'),
    /** Whether node `n`'s AMQP port answers. */
    answers: (n: NodeNumber): Promise<boolean> => portAnswers(Number(new URL(cluster.urlOf(n)).port)),
    /** Whether any node's AMQP port answers (another test, or a developer, brought the cluster up). */
    anyNodeAnswering: async (): Promise<boolean> => {
      const ports = cluster
        .urls()
        .split(',')
        .map((u) => Number(new URL(u).port));
      const answers = await Promise.all(ports.map((port) => portAnswers(port)));
      return answers.some(Boolean);
    },
    stopNode: (n: NodeNumber) => script('stop-node', String(n)),
    killNode: (n: NodeNumber) => script('kill-node', String(n)),
    startNode: (n: NodeNumber) => script('start-node', String(n)),
    /** Every queue of the default vhost with its replicas, asked of node `via`. */
    queues: async (via: NodeNumber): Promise<QueueReplicas[]> =>
      JSON.parse(
        await script(
          'ctl',
          String(via),
          'list_queues',
          'name',
          'type',
          'leader',
          'members',
          'online',
          '--formatter',
          'json',
        ),
      ) as QueueReplicas[],
    /**
     * Every queue of the default vhost with the arguments it was declared with (x-delivery-limit,
     * x-dead-letter-routing-key, ...), asked of node `via`: what the broker enforces, not what the
     * code meant to send.
     */
    queueArguments: async (via: NodeNumber): Promise<Map<string, Record<string, unknown>>> => {
      // rabbitmqctl lists each argument as [name, AMQP type, value].
      const rows = JSON.parse(
        await script('ctl', String(via), 'list_queues', 'name', 'arguments', '--formatter', 'json'),
      ) as Array<{ name: string; arguments: Array<[string, string, unknown]> }>;
      return new Map(rows.map((r) => [r.name, Object.fromEntries(r.arguments.map(([key, , value]) => [key, value]))]));
    },
    /** The node number of a node name (rabbit-c2@localhost → 2). */
    numberOf: (node: string): NodeNumber => {
      const n = Number(/(\d)@/.exec(node)?.[1]);
      if (n !== 1 && n !== 2 && n !== 3) throw new Error(`not a cluster node: ${node}`);
      return n;
    },
  };
  return cluster;
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

export type RabbitCluster = ReturnType<typeof rabbitClusterAt>;

/** The development cluster (scripts/rabbitmq-cluster.sh's defaults: rabbit-cN@localhost, 5701-5703). */
export const rabbitCluster = rabbitClusterAt();
