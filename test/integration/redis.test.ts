import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { DependencyUnavailableError } from '../../shared/errors.js';
import { LuaScript } from '../../shared/lua.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { recordCommands } from '../helpers/redis-commands.js';
import { testEnv } from '../helpers/config.js';
import { capturedLog, testLogger } from '../helpers/logger.js';

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

  it('runs a Lua script the server does not know (as after a restart) by its text once, then by its SHA', async () => {
    // A body no server has seen: a random token in a comment gives it its own SHA, so the first
    // EVALSHA answers NOSCRIPT, as after a Redis restart, without flushing the script cache of a
    // server other test files are using at the same time.
    const source = `-- ${randomUUID()}\nredis.call('INCR', KEYS[1]) return redis.call('GET', KEYS[1]) .. ARGV[1]`;
    const sha = createHash('sha1').update(source).digest('hex');
    for (const server of raw instanceof Cluster ? raw.nodes('master') : [raw])
      assert.deepEqual(await server.script('EXISTS', sha), [0], 'no server knows the script yet');
    const script = new LuaScript(source);

    // NOSCRIPT means nothing ran: the call is repeated once with the text, so it runs exactly once.
    const first = recordCommands(redis);
    const answer = await script.run(redis, ['lua-counter'], ['!']).finally(() => first.restore());
    assert.deepEqual(first.names, ['evalsha', 'eval'], 'answered NOSCRIPT, then sent with its text');
    assert.equal(answer, '1!');
    assert.equal(await raw.get(`${config.redis.keyPrefix}lua-counter`), '1', 'KEYS get the prefix; ran once');

    // The EVAL cached it: from now on the SHA alone.
    const second = recordCommands(redis);
    const again = await script.run(redis, ['lua-counter'], ['?']).finally(() => second.restore());
    assert.deepEqual(second.names, ['evalsha']);
    assert.equal(again, '2?');
  });

  it("reads the server's maxmemory-policy from INFO at connect: noeviction, so no warning", async () => {
    const log = capturedLog('debug');
    const client = await connectRedis(config, log.logger, 'policy-check');
    await closeRedis(client);
    const lines = log.lines().filter((l) => l.policy !== undefined || /maxmemory/.test(String(l.msg)));
    // The local servers (scripts/services.sh, a test cluster) run Redis's default, noeviction.
    const masters = raw instanceof Cluster ? raw.nodes('master').length : 1;
    assert.equal(lines.length, masters, JSON.stringify(lines));
    for (const line of lines) {
      assert.equal(line.policy, 'noeviction', JSON.stringify(line));
      assert.equal(line.level, 20, 'a debug line, not a warning');
    }
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
