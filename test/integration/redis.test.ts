import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis as RawRedis } from 'ioredis';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { DependencyUnavailableError } from '../../shared/errors.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('redis');

describe('shared Redis client against a real Redis', () => {
  let redis: Redis;
  let raw: RawRedis;
  before(async () => {
    redis = await connectRedis(config, testLogger);
    raw = new RawRedis(config.redis.url);
  });
  after(async () => {
    await closeRedis(redis);
    raw.disconnect();
    await cleanupTestResources(config);
  });

  it('writes with a TTL under the configured key prefix', async () => {
    await redis.set('greeting', 'hello', 'EX', 60);
    assert.equal(await redis.get('greeting'), 'hello');
    assert.equal(await raw.get(`${config.redis.keyPrefix}greeting`), 'hello', 'the prefix isolates this test file');
    assert.equal(await raw.get('greeting'), null);
    const ttl = await raw.ttl(`${config.redis.keyPrefix}greeting`);
    assert.ok(ttl > 0 && ttl <= 60);
  });

  it('runs atomic SET NX: only the first writer wins', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => redis.set('once', '1', 'PX', 5000, 'NX')));
    assert.equal(results.filter((r) => r === 'OK').length, 1);
  });

  it('fails start-up with the variable and host when Redis cannot be reached', async () => {
    await assert.rejects(
      connectRedis({ redis: { url: 'redis://127.0.0.1:1', keyPrefix: '' }, connectTimeoutMs: 500 }, testLogger),
      (err: unknown) =>
        err instanceof DependencyUnavailableError && /REDIS_URL/.test(err.message) && /127\.0\.0\.1:1/.test(err.message),
    );
  });
});
