import { bootstrap as bootstrapConsumer } from '../../consumer/bootstrap.js';
import { bootstrap as bootstrapJobs } from '../../jobs/bootstrap.js';
import { bootstrap as bootstrapProducer } from '../../producer/bootstrap.js';
import { bootstrap as bootstrapWs } from '../../ws-server/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config.js';
import { runAll } from '../../shared/lifecycle.js';
import { ensureIndexes, models } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import { closeRedis, connectRedis } from '../../shared/redis.js';
import { seedDemoData } from '../../seed/seed.js';
import { cleanupTestResources } from './cleanup.js';
import { testEnv } from './config.js';
import { testLogger } from './logger.js';

/** `Authorization: ApiKey <first key>`, or nothing when intake is open. */
export function intakeAuthorization(config: Pick<Config, 'intake'>): Record<string, string> {
  const key = config.intake.apiKeys[0];
  return key === undefined ? {} : { authorization: `ApiKey ${key}` };
}

export interface Pipeline {
  config: Config;
  env: Record<string, string>;
  producerUrl: string;
  wsPort: number;
  /** The consumer's ops port (/metrics). */
  consumerPort: number;
  /** The consumer's preference-change subscriber connection, by CLIENT SETNAME. */
  consumerPreferencesConnection: string | undefined;
  token(userId: string): Promise<string>;
  /**
   * POSTs JSON to the producer and returns status and parsed body; with INTAKE_API_KEYS set it
   * sends the first key, unless `headers` carry an authorization of their own.
   */
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** GETs (or another method) from the producer as `userId`, with a bearer token. */
  request(method: string, path: string, userId: string): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

/**
 * All four services bootstrapped in this process against the real servers, sharing one
 * test-unique prefix set, with the demo data seeded: the whole path a notification takes.
 */
export async function startPipeline(name: string, overrides: Record<string, string> = {}): Promise<Pipeline> {
  const { env, config } = testEnv(name, { PERSIST_DELAY_MS: '300', PERSIST_FLUSH_MS: '100', ...overrides });
  const mongo = await connectMongo(config, testLogger);
  const redis = await connectRedis(config, testLogger, 'seed');
  try {
    const m = models(mongo);
    await ensureIndexes(m);
    await seedDemoData(m, redis);
  } finally {
    await mongo.close();
    await closeRedis(redis);
  }
  const jobs = await bootstrapJobs(config, testLogger);
  const consumer = await bootstrapConsumer(config, testLogger);
  const ws = await bootstrapWs(config, testLogger);
  const producer = await bootstrapProducer(config, testLogger);
  const producerUrl = `http://127.0.0.1:${producer.port}`;
  const token = (userId: string) => signUserToken(userId, config.auth.jwtSecret);

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${producerUrl}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };

  return {
    config,
    env,
    producerUrl,
    wsPort: ws.port,
    consumerPort: consumer.port,
    consumerPreferencesConnection: consumer.preferencesConnectionName,
    token,
    post: (path, body, headers = {}) => call('POST', path, body, { ...intakeAuthorization(config), ...headers }),
    request: async (method, path, userId) =>
      call(method, path, undefined, { authorization: `Bearer ${await token(userId)}` }),
    close: async () => {
      await runAll([() => producer.close(), () => ws.close(), () => consumer.close(), () => jobs.close()]);
      await cleanupTestResources(config);
    },
  };
}
