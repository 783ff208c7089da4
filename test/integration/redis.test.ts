import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { DependencyUnavailableError } from '../../shared/errors.js';
import { LuaScript } from '../../shared/lua.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('redis');

describe('shared Redis client against a real Redis', () => {
  let redis: Redis;
  /** The same server or cluster, without the prefix. */
  let raw: Redis;
  before(async () => {
    redis = await connectRedis(config, testLogger);
    raw = await connectRedis({ ...config, redis: { ...config.redis, keyPrefix: '' } }, testLogger, 'raw');
  });
  after(async () => {
    await closeRedis(redis);
    await closeRedis(raw);
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
    for (const server of raw instanceof Cluster ? raw.nodes('master') : [raw]) await server.script('FLUSH');
    assert.equal(await script.run(redis, ['lua-counter'], ['?']), '2?');
    assert.equal(await script.run(redis, ['lua-counter'], ['.']), '3.');
  });

  it('fails start-up with the variable and host when Redis cannot be reached', async () => {
    await assert.rejects(
      connectRedis(
        { redis: { url: 'redis://127.0.0.1:1', keyPrefix: '', cluster: undefined }, connectTimeoutMs: 500 },
        testLogger,
      ),
      (err: unknown) =>
        err instanceof DependencyUnavailableError &&
        /REDIS_URL/.test(err.message) &&
        /127\.0\.0\.1:1/.test(err.message),
    );
    const unreachable = {
      url: '',
      keyPrefix: '',
      cluster: { nodes: [{ host: '127.0.0.1', port: 1 }], username: undefined, password: 'pw-0123', tls: false },
    };
    await assert.rejects(
      connectRedis({ redis: unreachable, connectTimeoutMs: 500 }, testLogger),
      (err: unknown) =>
        err instanceof DependencyUnavailableError &&
        /REDIS_CLUSTER_NODES/.test(err.message) &&
        /127\.0\.0\.1:1/.test(err.message) &&
        !err.message.includes('pw-0123'),
    );
  });
});
