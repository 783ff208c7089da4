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
 * The local 3-node cluster of scripts/rabbitmq-cluster.sh, driven from tests: `up` is idempotent
 * (the first run boots three nodes, about 30 s; later ones find them answering).
 */
export const rabbitCluster = {
  /** RABBITMQ_URL for the three nodes (the script prints it; the ports are fixed). */
  urls: (): string => execFileSync('bash', [SCRIPT, 'urls'], { encoding: 'utf8' }).trim(),
  /** One node's URL, for a connection that must go to that node. */
  urlOf: (n: NodeNumber): string => rabbitCluster.urls().split(',')[n - 1]!,
  up: () => script('up'),
  down: () => script('down'),
  /** Whether any node's AMQP port answers (another test, or a developer, brought the cluster up). */
  anyNodeAnswering: async (): Promise<boolean> => {
    const ports = rabbitCluster.urls().split(',').map((u) => Number(new URL(u).port));
    const answers = await Promise.all(ports.map((port) => portAnswers(port)));
    return answers.some(Boolean);
  },
  stopNode: (n: NodeNumber) => script('stop-node', String(n)),
  killNode: (n: NodeNumber) => script('kill-node', String(n)),
  startNode: (n: NodeNumber) => script('start-node', String(n)),
  /** Every queue of the default vhost with its replicas, asked of node `via`. */
  queues: async (via: NodeNumber): Promise<QueueReplicas[]> =>
    JSON.parse(await script('ctl', String(via), 'list_queues', 'name', 'type', 'leader', 'members', 'online', '--formatter', 'json')) as QueueReplicas[],
  /** The node number of a node name (rabbit-c2@localhost → 2). */
  numberOf: (node: string): NodeNumber => {
    const n = Number(/(\d)@/.exec(node)?.[1]);
    if (n !== 1 && n !== 2 && n !== 3) throw new Error(`not a cluster node: ${node}`);
    return n;
  },
};

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

async function script(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [SCRIPT, ...args], { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
