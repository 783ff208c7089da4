import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/process.js';
import { NODES, rabbitClusterAt, type NodeNumber } from '../helpers/rabbitmq-cluster.js';
import { eventually } from '../helpers/wait.js';

const run = promisify(execFile);

/**
 * The cluster suite's own servers, on ports and node names of their own and with their own state
 * dir: the clusters, brought up and down by `scripts/services.sh cluster` with this environment,
 * and a PostgreSQL with FerretDB on it (and, before the checkout has Redis Cluster support, a
 * single Redis) by `scripts/services.sh up` as the chaos suite does. The development clusters on
 * the default ports (5701-5703, 7001-7006), which other tests and people use, are never killed by
 * this suite, and the shared FerretDB never carries its load (a FerretDB that stops answering
 * under a burst, docs/performance.md "FerretDB notes", is then this suite's alone).
 */
export const CLUSTER_SERVERS = {
  SERVICES_DATA_DIR: resolve(ROOT, '.data/cluster'),
  // RabbitMQ: rabbit-t1..3@localhost on AMQP 5711-5713 (distribution 25711-25713).
  RABBITMQ_CLUSTER_PORT: '5711',
  RABBITMQ_CLUSTER_NAME: 'rabbit-t',
  // Redis Cluster: 7101-7106 (bus 17101-17106).
  REDIS_CLUSTER_PORT: '7101',
  // The single servers of scripts/services.sh (the store; REDIS_PORT keeps services.sh off the
  // shared Redis even though the suite starts no single Redis).
  REDIS_PORT: '6398',
  POSTGRES_PORT: '5498',
  MONGO_PORT: '27098',
};

export const MONGO_BASE_URL = `mongodb://127.0.0.1:${CLUSTER_SERVERS.MONGO_PORT}`;

const scriptEnv = { ...process.env, ...CLUSTER_SERVERS };

async function script(name: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [resolve(ROOT, 'scripts', name), ...args], {
    env: scriptEnv,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

export const rabbit = rabbitClusterAt(CLUSTER_SERVERS);

/** The single servers the suite runs beside the clusters: the store. */
const SINGLES = ['postgres', 'ferretdb'];

/** State dirs of the suite's servers under SERVICES_DATA_DIR (the scripts' names for them). */
const STATE_DIRS = [
  'ferretdb',
  'postgres',
  'postgres.initdb',
  'redis',
  'redis-cluster',
  'rabbitmq-c1',
  'rabbitmq-c2',
  'rabbitmq-c3',
];

export const clusterInfra = {
  /**
   * Everything from empty (the data is disposable): whatever an interrupted run left is stopped
   * and its state deleted, so no queue of an earlier run (a Raft group on every node) slows the
   * cluster, and no node starts with a role an earlier failover gave it. A fresh RabbitMQ cluster
   * boots and joins in about 25 s here.
   */
  up: async () => {
    await script('services.sh', 'cluster', 'down');
    await script('services.sh', 'down', ...SINGLES);
    for (const dir of STATE_DIRS)
      await rm(resolve(CLUSTER_SERVERS.SERVICES_DATA_DIR, dir), { recursive: true, force: true });
    await script('services.sh', 'up', ...SINGLES);
    await script('services.sh', 'cluster', 'up');
  },
  /** Stops all of it, so three Erlang VMs and six Redis nodes do not hold the CPU after the suite. */
  down: async () => {
    await script('services.sh', 'cluster', 'down');
    await script('services.sh', 'down', ...SINGLES);
  },
};

// ---------------------------------------------------------------- RabbitMQ

/** The URL of the first cluster node that answers, for the test's own connections (cleanup, dead letters). */
export async function liveRabbitUrl(): Promise<string> {
  for (const n of NODES) if (await rabbit.answers(n)) return rabbit.urlOf(n);
  throw new Error('no RabbitMQ cluster node answers');
}

/** A node that answers, to ask the cluster through (rabbitmqctl against a dead node fails). */
async function liveNode(except: NodeNumber | undefined): Promise<NodeNumber> {
  for (const n of NODES) {
    if (n === except) continue;
    try {
      await rabbit.queues(n);
      return n;
    } catch {
      // not running: the next one
    }
  }
  throw new Error('no RabbitMQ cluster node answers');
}

/** Each queue's leader, as node numbers, asked of `via`. Queues without a leader right now are left out. */
async function leadersOf(queues: string[], via: NodeNumber): Promise<Map<string, NodeNumber>> {
  const listed = await rabbit.queues(via);
  const leaders = new Map<string, NodeNumber>();
  for (const q of listed) if (queues.includes(q.name) && q.leader) leaders.set(q.name, rabbit.numberOf(q.leader));
  return leaders;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * SIGKILLs the RabbitMQ node that leads the most of `queues` (the events queues: one per category
 * on quorum), waits until every one of them has a leader on a surviving node, keeps the node down
 * for `downMs` more, then starts it again (it rejoins and its replicas catch up). Returns what
 * happened, for the table's notes.
 */
export async function killRabbitLeader(queues: string[], downMs: number): Promise<string> {
  const before = await leadersOf(queues, await liveNode(undefined));
  const count = new Map<NodeNumber, number>();
  for (const n of before.values()) count.set(n, (count.get(n) ?? 0) + 1);
  const [victim] = [...count].sort((a, b) => b[1] - a[1])[0] ?? [];
  if (victim === undefined) throw new Error(`no leader found for ${queues.join(', ')}`);
  const led = queues.filter((q) => before.get(q) === victim);
  const killedAt = Date.now();
  await rabbit.killNode(victim);
  const survivor = await liveNode(victim);
  const after = await eventually(
    async () => {
      const now = await leadersOf(queues, survivor);
      return queues.every((q) => now.has(q) && now.get(q) !== victim) ? now : undefined;
    },
    { what: `new leaders for the queues node ${victim} led`, timeoutMs: 60_000, intervalMs: 250 },
  );
  const electedMs = Date.now() - killedAt;
  await sleep(downMs);
  const restartAt = Date.now();
  await rabbit.startNode(victim);
  const newLeaders = [...new Set(led.map((q) => after.get(q)!))].map((n) => `node ${n}`).join(', ');
  return (
    `SIGKILL node ${victim}, leader of ${led.length} of ${queues.length} events queues; ` +
    `new leader(s) on ${newLeaders} within ${seconds(electedMs)}; node ${victim} down ${seconds(restartAt - killedAt)}, back after ${seconds(Date.now() - restartAt)}`
  );
}

// ---------------------------------------------------------------- Redis

const redisPorts = Array.from({ length: 6 }, (_, i) => Number(CLUSTER_SERVERS.REDIS_CLUSTER_PORT) + i);

/** The services' Redis: the suite's own Redis Cluster (REDIS_CLUSTER_NODES, all six nodes). */
export const REDIS_CLUSTER_ENV = { REDIS_CLUSTER_NODES: redisPorts.map((p) => `127.0.0.1:${p}`).join(',') };

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout.replace(/\r/g, '');
}

async function role(port: number): Promise<{ role: string; replicas: number[] }> {
  const lines = (await cli(port, 'ROLE').catch(() => '')).split('\n');
  // master: role, offset, then ip / port / offset per replica.
  return {
    role: lines[0] ?? '',
    replicas: lines[0] === 'master' ? lines.filter((_, i) => i >= 2 && (i - 2) % 3 === 1).map(Number) : [],
  };
}

async function infoField(port: number, section: string, field: string): Promise<string | undefined> {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(await cli(port, 'INFO', section))?.[1];
}

/** The first master (in port order) that has a replica, and that replica. */
async function masterWithReplica(): Promise<{ master: number; replica: number }> {
  for (const port of redisPorts) {
    const r = await role(port);
    if (r.role === 'master' && r.replicas.length > 0) return { master: port, replica: r.replicas[0]! };
  }
  throw new Error('no Redis master with a replica answers');
}

async function waitTakeover(replicas: number[], dead: number): Promise<number> {
  const survivor = redisPorts.find((p) => p !== dead && !replicas.includes(p))!;
  return eventually(
    async () => {
      for (const r of replicas) {
        if ((await role(r)).role === 'master' && /cluster_state:ok/.test(await cli(survivor, 'CLUSTER', 'INFO')))
          return r;
      }
      return undefined;
    },
    { what: `a replica of ${dead} to take over`, timeoutMs: 60_000, intervalMs: 100 },
  );
}

/** The PID of the redis-server answering on `port`, checked against its command line (`redis-server 127.0.0.1:<port>`). */
async function redisPid(port: number): Promise<number> {
  const pid = Number(await infoField(port, 'server', 'process_id'));
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('redis-server') || !cmdline.includes(`:${port}`))
    throw new Error(`pid ${pid} is not the redis-server on ${port}`);
  return pid;
}

/**
 * SIGKILLs a Redis master (the first in port order that has a replica), waits until its replica
 * has taken over and the cluster is ok, keeps the node down for `downMs`, then
 * `scripts/redis-cluster.sh up` brings it back, as a replica of the new master.
 */
export async function killRedisMaster(downMs: number): Promise<string> {
  const { master, replica } = await masterWithReplica();
  const pid = await redisPid(master);
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  const promoted = await waitTakeover([replica], master);
  const tookMs = Date.now() - killedAt;
  await sleep(downMs);
  const restartAt = Date.now();
  await script('redis-cluster.sh', 'up');
  return `SIGKILL master ${master}; replica ${promoted} took over after ${seconds(tookMs)}; ${master} back as a replica after ${seconds(Date.now() - restartAt)}`;
}

/**
 * A failover that loses acknowledged writes, on purpose: Redis replicates asynchronously, so a
 * master that dies holding writes its replica has not received takes them along, and the replica
 * becomes master without them. Made certain instead of left to chance (on loopback the replica is
 * rarely more than a few bytes behind): the replica is frozen (SIGSTOP) and the master drops its
 * replication link (CLIENT KILL TYPE replica), so for `windowMs` every write the master
 * acknowledges reaches it alone; then the master is SIGKILLed and the replica thawed, and it takes
 * over without them. The freeze stays under the cluster's node timeout (3 s), so no node marks the
 * replica failed. Returns how many bytes of acknowledged writes were lost, from the master's
 * replication offset.
 */
export async function failoverLosingWrites(windowMs: number, downMs: number): Promise<string> {
  const { master, replica } = await masterWithReplica();
  const masterPid = await redisPid(master);
  const replicaPid = await redisPid(replica);
  process.kill(replicaPid, 'SIGSTOP');
  let offsetAtCut: number;
  let offsetAtKill: number;
  try {
    await cli(master, 'CLIENT', 'KILL', 'TYPE', 'replica');
    offsetAtCut = Number(await infoField(master, 'replication', 'master_repl_offset'));
    await sleep(windowMs);
    offsetAtKill = Number(await infoField(master, 'replication', 'master_repl_offset'));
    process.kill(masterPid, 'SIGKILL');
  } finally {
    process.kill(replicaPid, 'SIGCONT');
  }
  const killedAt = Date.now();
  const promoted = await waitTakeover([replica], master);
  const tookMs = Date.now() - killedAt;
  await sleep(downMs);
  const restartAt = Date.now();
  await script('redis-cluster.sh', 'up');
  return (
    `replica ${replica} frozen and cut off for ${seconds(windowMs)}, master ${master} SIGKILLed holding ${offsetAtKill - offsetAtCut} bytes ` +
    `of acknowledged writes the replica never got; ${promoted} took over after ${seconds(tookMs)}; ${master} back as a replica after ${seconds(Date.now() - restartAt)}`
  );
}
