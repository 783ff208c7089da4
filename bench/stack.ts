import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mongoose from 'mongoose';
import { loadConfig, type Config, type ServiceName } from '../shared/config.js';
import { userModel } from '../shared/models/user.js';
import { closeRedis, connectRedis } from '../shared/redis.js';
import { storeUserNames } from '../shared/user-directory.js';
import { loadAgedNotifications, type AgedResult } from '../test/helpers/aged-db.js';
import { testLogger } from '../test/helpers/logger.js';
import { ROOT, startBuilt, type RunningService } from '../test/helpers/process.js';
import { deleteQueuesAndKeys, dropDatabase } from '../test/helpers/cleanup.js';
import type { BenchOptions } from './options.js';
import { REDIS_PROBE_NODE_OPTIONS } from './redis-counters.js';
import { MEMORY_PROBE_NODE_OPTIONS } from './ws-memory.js';

const run = promisify(execFile);

/** Pause between the services' exit and dropping the run's database. */
const QUIET_BEFORE_DROP_MS = 3000;

/**
 * The system under test: the four services as separate built processes, on names, keys and a
 * database unique to this run, so a benchmark never sees (or disturbs) tests or another run.
 */
export interface Stack {
  runId: string;
  env: Record<string, string>;
  config: Config;
  /** The first process of each service: the address the load generator and scenarios use. */
  services: Record<ServiceName, RunningService>;
  /** Every process of each service (`--instances`: several ws-servers and consumers). */
  instances: Record<ServiceName, RunningService[]>;
  jwtSecret: string;
  /** The key the producer takes events with (undefined only if `--env` emptied INTAKE_API_KEYS). */
  intakeKey: string | undefined;
  userIds: string[];
  /** Each process's Redis request probe (bench/redis-counters.ts), by service, in `instances` order. */
  redisProbeSockets: Record<ServiceName, string[]>;
  close(): Promise<void>;
}

export async function ensureInfrastructure(log: (line: string) => void): Promise<void> {
  log('infrastructure: scripts/services.sh up');
  await run('bash', ['scripts/services.sh', 'up'], { cwd: ROOT });
}

export async function build(log: (line: string) => void): Promise<void> {
  log('build: npm run build');
  try {
    await run('npm', ['run', 'build', '--silent'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const out = (err as { stdout?: string }).stdout ?? '';
    throw new Error(`npm run build failed (use --no-build to run the existing dist/):\n${out.slice(0, 4000)}`);
  }
}

export function benchEnv(
  runId: string,
  options: Pick<BenchOptions, 'persistDelayMs' | 'serviceEnv'>,
  jwtSecret: string,
  intakeKey: string,
): Record<string, string> {
  const mongoUrl = new URL(process.env.MONGO_URL ?? 'mongodb://127.0.0.1:27017');
  mongoUrl.pathname = `/bench_${runId}`;
  return {
    NODE_ENV: 'development',
    HTTP_HOST: '127.0.0.1',
    PRODUCER_PORT: '0',
    CONSUMER_PORT: '0',
    WS_PORT: '0',
    JOBS_PORT: '0',
    RABBITMQ_URL: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    MONGO_URL: mongoUrl.toString(),
    AMQP_NAME_PREFIX: `bench.${runId}.`,
    REDIS_KEY_PREFIX: `bench:${runId}:`,
    WS_AUTH_MODE: 'token',
    JWT_SECRET: jwtSecret,
    // Intake runs as in production, key check included: its cost is part of what is measured.
    INTAKE_API_KEYS: intakeKey,
    // The benchmark measures the pipeline's cost, not its product policy: the limiter still runs
    // (its Redis round trips are part of the cost) but never drops a benchmark event.
    RATE_LIMIT_ACTOR_PER_MINUTE: '1000000000',
    RATE_LIMIT_RECIPIENT_PER_MINUTE: '1000000000',
    // Likewise the producer's per-address limit: every load-generator request comes from 127.0.0.1.
    HTTP_RATE_LIMIT_PER_MINUTE: '1000000000',
    PERSIST_DELAY_MS: String(options.persistDelayMs),
    // jobs may hold a large batch when the run ends; it must finish writing before it exits
    // (see test/helpers/cleanup.ts, dropDatabase, for why an abandoned write matters).
    SHUTDOWN_TIMEOUT_MS: '60000',
    ...options.serviceEnv,
  };
}

/** jobs first: it declares nothing the others need, but starting it early lets it warm up. */
const SERVICE_ORDER = ['jobs', 'consumer', 'ws-server', 'producer'] as const;

/** The services `--instances` multiplies; producer and jobs run once. */
const SCALED_SERVICES: ReadonlySet<ServiceName> = new Set(['consumer', 'ws-server']);

/**
 * The name a process is reported under: the service's, or with several processes of it
 * `<service>#<n>` from 1 (the service's own name then stands for the sum over them).
 */
export function instanceLabel(service: ServiceName, index: number, count: number): string {
  return count > 1 ? `${service}#${index + 1}` : service;
}

/** Every process of the stack with its service and report name, in start order. */
export function stackProcesses(
  stack: Pick<Stack, 'instances'>,
): { service: ServiceName; label: string; process: RunningService }[] {
  return (Object.entries(stack.instances) as [ServiceName, RunningService[]][]).flatMap(([service, list]) =>
    list.map((process, i) => ({ service, label: instanceLabel(service, i, list.length), process })),
  );
}

/** MongoDB connections of the connections scenario's ws-server (the driver's default is 100). */
const CONNECTIONS_WS_MONGO_POOL = 20;

/**
 * Every service gets the Redis request probe (bench/redis-request-probe.mjs), answering on its
 * own Unix socket, after any NODE_OPTIONS given with `--env`. What the ws-server alone gets: the
 * connections scenario loads the memory probe (bench/ws-memory-probe.ts) and caps the MongoDB
 * pool: every pooled connection is a file descriptor the sockets cannot have, and the process
 * may open only RLIMIT_NOFILE of them.
 * `--ws-node-options` is added, e.g. to preload a profiler (--cpu-prof itself is not allowed in
 * NODE_OPTIONS).
 */
function serviceEnv(
  name: ServiceName,
  env: Record<string, string>,
  options: Pick<BenchOptions, 'scenario' | 'wsNodeOptions'>,
  probeSocket: string,
): Record<string, string> {
  const nodeOptions = (...options: string[]) =>
    [...options, env.NODE_OPTIONS ?? '', REDIS_PROBE_NODE_OPTIONS].filter(Boolean).join(' ');
  const out: Record<string, string> = { ...env, BENCH_REDIS_PROBE_SOCKET: probeSocket, NODE_OPTIONS: nodeOptions() };
  if (name !== 'ws-server') return out;
  out.NODE_OPTIONS = nodeOptions(
    options.scenario === 'connections' ? MEMORY_PROBE_NODE_OPTIONS : '',
    options.wsNodeOptions,
  );
  if (options.scenario === 'connections' && env.MONGO_URL) {
    const url = new URL(env.MONGO_URL);
    if (!url.searchParams.has('maxPoolSize')) url.searchParams.set('maxPoolSize', String(CONNECTIONS_WS_MONGO_POOL));
    out.MONGO_URL = url.toString();
  }
  return out;
}

/**
 * `--aged-notifications`: other users' stored notifications, loaded once the services are up (they
 * created the indexes, so the load pays for index upkeep as a real aged collection did) and
 * before the scenario starts.
 */
export async function loadAgedDatabase(
  config: Config,
  count: number,
  log: (line: string) => void,
): Promise<AgedResult> {
  log(`aged database: loading ${count} stored notifications of other users`);
  const connection = await mongoose.createConnection(config.mongo.url).asPromise();
  try {
    const result = await loadAgedNotifications(connection, { count });
    log(`aged database: ${result.inserted} notifications loaded in ${(result.elapsedMs / 1000).toFixed(1)} s`);
    return result;
  } finally {
    await connection.close();
  }
}

/**
 * Users exist so the consumer formats names; delivery does not need them. Written as the seed
 * writes users: to MongoDB and their name copies to Redis (shared/user-directory.ts).
 */
async function seedUsers(config: Config, userIds: string[]): Promise<void> {
  const connection = await mongoose.createConnection(config.mongo.url).asPromise();
  const redis = await connectRedis(config, testLogger, 'bench-seed');
  try {
    const now = new Date();
    const docs = userIds.map((id, i) => ({ _id: id, name: `Bench ${i}`, createdAt: now }));
    for (let i = 0; i < docs.length; i += 1000) {
      await userModel(connection).insertMany(docs.slice(i, i + 1000));
      await storeUserNames(redis, docs.slice(i, i + 1000));
    }
  } finally {
    await connection.close();
    await closeRedis(redis);
  }
}

export async function startStack(options: BenchOptions, log: (line: string) => void): Promise<Stack> {
  const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const jwtSecret = randomBytes(32).toString('hex');
  const env = benchEnv(runId, options, jwtSecret, options.intakeKey ?? randomBytes(32).toString('base64url'));
  const config = loadConfig(env);
  // `--env INTAKE_API_KEYS=...` wins over --intake-key: send what the producer will take.
  const intakeKey = config.intake.apiKeys[0];
  const userIds = Array.from({ length: options.users }, (_, i) => `bu${i}`);
  // Idle sockets need no names, nor does a storm that measures replay: the consumer falls back to
  // ids. Every other scenario formats messages with them. (Seeding 10,000 users into FerretDB is
  // setup the storm does not measure.)
  if (options.scenario !== 'connections' && options.scenario !== 'reconnect-storm') await seedUsers(config, userIds);

  const counts = Object.fromEntries(
    SERVICE_ORDER.map((name) => [name, SCALED_SERVICES.has(name) ? options.instances : 1]),
  ) as Record<ServiceName, number>;
  const scaled = options.instances > 1 ? ` (${options.instances} each of ws-server and consumer)` : '';
  log(
    `services: starting producer, consumer, ws-server, jobs${scaled} (run ${runId}: AMQP prefix ${env.AMQP_NAME_PREFIX}, Redis prefix ${env.REDIS_KEY_PREFIX}, database bench_${runId})`,
  );
  const started: RunningService[] = [];
  const probeDir = await mkdtemp(join(tmpdir(), `bench-${runId}-`));
  const redisProbeSockets = Object.fromEntries(
    SERVICE_ORDER.map((name) => [
      name,
      Array.from({ length: counts[name] }, (_, i) => join(probeDir, `${name}-${i + 1}.sock`)),
    ]),
  ) as Record<ServiceName, string[]>;
  const instances = Object.fromEntries(SERVICE_ORDER.map((name) => [name, [] as RunningService[]])) as Record<
    ServiceName,
    RunningService[]
  >;
  try {
    for (const name of SERVICE_ORDER) {
      for (const socket of redisProbeSockets[name]) {
        const service = await startBuilt(name, serviceEnv(name, env, options, socket));
        started.push(service);
        instances[name].push(service);
      }
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.stop('SIGKILL')));
    await rm(probeDir, { recursive: true, force: true });
    if (options.cleanup) await deleteQueuesAndKeys(config).catch(() => undefined);
    throw err;
  }
  const services = Object.fromEntries(SERVICE_ORDER.map((name) => [name, instances[name][0]])) as Record<
    ServiceName,
    RunningService
  >;
  let closed: Promise<void> | undefined;
  return {
    runId,
    env,
    config,
    services,
    instances,
    jwtSecret,
    intakeKey,
    userIds,
    redisProbeSockets,
    close: () =>
      (closed ??= (async () => {
        const codes = await Promise.all(started.map((s) => s.stop('SIGTERM')));
        await rm(probeDir, { recursive: true, force: true });
        if (!options.cleanup) return;
        await deleteQueuesAndKeys(config);
        if (codes.some((code) => code !== 0)) {
          log(
            `cleanup: a service did not shut down cleanly (exit codes ${codes.join(', ')}); database bench_${runId} is left in place, drop it later`,
          );
          return;
        }
        // The server may still be answering requests the services sent just before exiting.
        await new Promise((r) => setTimeout(r, QUIET_BEFORE_DROP_MS));
        await dropDatabase(config);
      })()),
  };
}
