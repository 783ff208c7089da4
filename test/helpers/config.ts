import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../shared/config.js';

export interface TestEnv {
  env: Record<string, string>;
  config: Config;
}

/**
 * A config whose broker names, Redis keys and MongoDB database are unique to one test file
 * (and one call), so test files run in parallel against the same real servers without seeing
 * each other's data. Infrastructure URLs come from the environment when set (CI, a developer
 * pointing at other servers), otherwise the local defaults from scripts/services.sh.
 * TEST_REDIS_CLUSTER (seed nodes, as REDIS_CLUSTER_NODES) points Redis at a cluster instead.
 */
export function testEnv(name: string, overrides: Record<string, string> = {}): TestEnv {
  const id = `${name.replace(/[^a-z0-9]/gi, '').slice(0, 20)}${randomBytes(3).toString('hex')}`.toLowerCase();
  const mongoBase = process.env.MONGO_URL ?? 'mongodb://127.0.0.1:27017';
  const mongoUrl = new URL(mongoBase);
  mongoUrl.pathname = `/t_${id}`;
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    HTTP_HOST: '127.0.0.1',
    PRODUCER_PORT: '0',
    CONSUMER_PORT: '0',
    WS_PORT: '0',
    JOBS_PORT: '0',
    RABBITMQ_URL: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    // test/integration/quorum-queues.test.ts runs files again with AMQP_QUEUE_TYPE=quorum.
    AMQP_QUEUE_TYPE: process.env.AMQP_QUEUE_TYPE ?? 'classic',
    // TEST_REDIS_CLUSTER=127.0.0.1:7001,... runs the file against a Redis Cluster
    // (scripts/redis-cluster.sh up) instead of the single server.
    ...(process.env.TEST_REDIS_CLUSTER
      ? { REDIS_CLUSTER_NODES: process.env.TEST_REDIS_CLUSTER }
      : { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }),
    MONGO_URL: mongoUrl.toString(),
    AMQP_NAME_PREFIX: `t.${id}.`,
    REDIS_KEY_PREFIX: `t:${id}:`,
    CONNECT_TIMEOUT_MS: '5000',
    // The shared FerretDB under a parallel test run is far slower than production MongoDB; tests
    // of the deadline itself set their own.
    MONGO_QUERY_TIMEOUT_MS: '5000',
    // For the same reason a rebuild behind a Redis miss may take longer than the default 50 ms
    // wait, and AUTH_OK would then leave out the unread count that tests of other things expect
    // in it. Tests of the fallback itself (test/e2e/aged-database.test.ts) set the default.
    MONGO_FALLBACK_WAIT_MS: '1000',
    JWT_SECRET: 'test-secret-that-is-long-enough-for-hs256-0123456789',
    // Every test request still goes through the per-client limiter (its Redis round trip
    // included), but all of them come from 127.0.0.1: a test about something else must not be
    // refused. test/integration/http-limits.test.ts sets its own limits.
    HTTP_RATE_LIMIT_PER_MINUTE: '1000000',
    ...overrides,
  };
  return { env, config: loadConfig(env) };
}
