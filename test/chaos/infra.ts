import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/process.js';

const run = promisify(execFile);

/** What the suite stops and starts: the broker, Redis, and the MongoDB-compatible store. */
export type Server = 'rabbitmq' | 'redis' | 'mongodb';

/**
 * The scripts/services.sh servers each Server is made of, in start order (services.sh stops them
 * in reverse). "MongoDB goes down" stops the store as a whole, FerretDB and the PostgreSQL under
 * it: mongod is one process that owns both the wire protocol and the storage engine, so its
 * restart drops every connection *and* makes the engine recover what it acknowledged from its
 * journal. Restarting FerretDB alone would only drop connections while PostgreSQL kept every
 * page in memory: half the fault. Stopping both costs a PostgreSQL boot (about a second).
 */
const PARTS: Record<Server, string[]> = {
  rabbitmq: ['rabbitmq'],
  redis: ['redis'],
  mongodb: ['postgres', 'ferretdb'],
};

/**
 * The chaos suite's own RabbitMQ, Redis (AOF on) and FerretDB on PostgreSQL, started by scripts/services.sh
 * on other ports, with their own data dir and RabbitMQ node name. Everyone else's tests use the
 * shared servers on the default ports: this suite restarts only these.
 */
export const CHAOS_SERVERS = {
  SERVICES_DATA_DIR: resolve(ROOT, '.data/chaos'),
  RABBITMQ_PORT: '5699',
  RABBITMQ_NODENAME: 'chaos@localhost',
  RABBITMQ_DIST_PORT: '25699',
  REDIS_PORT: '6399',
  POSTGRES_PORT: '5499',
  MONGO_PORT: '27099',
};

export const CHAOS_URLS = {
  RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${CHAOS_SERVERS.RABBITMQ_PORT}`,
  REDIS_URL: `redis://127.0.0.1:${CHAOS_SERVERS.REDIS_PORT}`,
  MONGO_URL: `mongodb://127.0.0.1:${CHAOS_SERVERS.MONGO_PORT}/chaos`,
};

async function services(command: 'up' | 'down', only: Server[] = []): Promise<void> {
  await run('bash', [resolve(ROOT, 'scripts/services.sh'), command, ...only.flatMap((s) => PARTS[s])], {
    env: { ...process.env, ...CHAOS_SERVERS },
    timeout: 120_000,
  });
}

export const chaosInfra = {
  /** Stops leftovers of an interrupted run and starts from empty stores (the data is disposable). */
  fresh: async () => {
    await services('down');
    for (const dir of ['ferretdb', 'postgres', 'postgres.initdb', 'redis'])
      await rm(resolve(CHAOS_SERVERS.SERVICES_DATA_DIR, dir), { recursive: true, force: true });
    await services('up');
  },
  up: (only: Server[] = []) => services('up', only),
  down: (only: Server[] = []) => services('down', only),
};
