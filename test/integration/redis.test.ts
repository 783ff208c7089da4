import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis as RawRedis } from 'ioredis';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { DependencyUnavailableError } from '../../shared/errors.js';
import { LuaScript } from '../../shared/lua.js';
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

  it('runs a Lua script by its SHA, under the key prefix, and again after Redis forgot every script', async () => {
    const script = new LuaScript(`redis.call('INCR', KEYS[1]) return redis.call('GET', KEYS[1]) .. ARGV[1]`);
    assert.equal(await script.run(redis, ['lua-counter'], ['!']), '1!');
    assert.equal(await raw.get(`${config.redis.keyPrefix}lua-counter`), '1', 'KEYS get the prefix');
    // What a Redis restart does to the script cache: the next call answers NOSCRIPT, runs nothing,
    // and is repeated once with the script's text, so it runs exactly once.
    await raw.script('FLUSH');
    assert.equal(await script.run(redis, ['lua-counter'], ['?']), '2?');
    assert.equal(await script.run(redis, ['lua-counter'], ['.']), '3.');
  });

  it('fails start-up with the variable and host when Redis cannot be reached', async () => {
    await assert.rejects(
      connectRedis({ redis: { url: 'redis://127.0.0.1:1', keyPrefix: '' }, connectTimeoutMs: 500 }, testLogger),
      (err: unknown) =>
        err instanceof DependencyUnavailableError && /REDIS_URL/.test(err.message) && /127\.0\.0\.1:1/.test(err.message),
    );
  });
});
