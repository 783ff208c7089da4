import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { acceptEvent, type AcceptDeps } from '../../producer/accept-event.js';
import { IdempotencyKeyReusedError } from '../../producer/http-errors.js';
import { idempotencyCheck } from '../../producer/idempotency.js';
import { createProducerMetrics } from '../../producer/metrics.js';
import { createEventPublisher } from '../../producer/publisher.js';
import { REDIS_FAIL_OPEN_WAIT_MS } from '../../shared/config.js';
import { connectInfra, type Infra } from '../../shared/infra.js';
import { keys } from '../../shared/keys.js';
import { createRegistry } from '../../shared/metrics.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { capturedLog, testLogger } from '../helpers/logger.js';
import { recordCommands } from '../helpers/redis-commands.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/*
 * The Idempotency-Key check (producer/idempotency.ts) against the real Redis and broker: what it
 * costs (nothing for an eventId the producer generates, one round trip for a chosen one), what it
 * stores (a fingerprint under the prefixed key, for the event dedupe window), and that it fails
 * open when Redis does not answer.
 */
const { config } = testEnv('idemcheck', { EVENT_DEDUPE_WINDOW_SECONDS: '3600' });
const order = (orderId: string) => ({ type: 'ORDER', targetId: 'u1', orderId, text: 'has shipped' });

describe('Idempotency-Key check', () => {
  let infra: Infra;
  let channel: ChannelWrapper;
  let raw: Redis;
  let deps: AcceptDeps;
  const metrics = createProducerMetrics(createRegistry('producer'));

  before(async () => {
    infra = await connectInfra(config, testLogger);
    channel = await infra.amqp.createChannel('idempotency-check');
    raw = await connectRedis({ ...config, redis: { ...config.redis, keyPrefix: '' } }, testLogger, 'raw');
    deps = {
      publisher: createEventPublisher(infra.amqp, channel, config.rabbitmq.publishConfirmTimeoutMs),
      metrics,
      retryAfterSeconds: 1,
      idempotency: idempotencyCheck(infra.redis, {
        windowSeconds: config.pipeline.eventDedupeWindowSeconds,
        waitMs: REDIS_FAIL_OPEN_WAIT_MS,
        logger: testLogger,
        metrics,
      }),
    };
  });
  after(async () => {
    await channel.close();
    await closeRedis(raw);
    await infra.close();
    await cleanupTestResources(config);
  });

  it('costs no Redis command for a generated eventId and one round trip for a chosen one', async () => {
    // The script's first call on a server that does not know it yet sends its text too.
    await acceptEvent(deps, order('warm-up'), 'idem-warm-up');
    const commands = recordCommands(infra.redis);
    try {
      const generated = await acceptEvent(deps, order('o-1'), undefined);
      assert.match(generated.eventId, /^[0-9a-f-]{36}$/);
      assert.deepEqual(commands.names, [], 'the hot path gains no round trip');
      await acceptEvent(deps, order('o-2'), 'idem-key-1');
      assert.deepEqual(commands.names, ['evalsha'], 'one script call');
    } finally {
      commands.restore();
    }
    const key = `${config.redis.keyPrefix}${keys.idempotency('idem-key-1')}`;
    const ttl = await raw.ttl(key);
    assert.ok(ttl > 3500 && ttl <= 3600, `TTL ${ttl} s: the event dedupe window`);
    assert.match(String(await raw.get(key)), /^[A-Za-z0-9_-]{43}$/, 'a SHA-256 fingerprint, not the event');
  });

  it('checks the eventIds of one turn in one script call, and of two events racing under one key accepts one', async () => {
    const commands = recordCommands(infra.redis);
    let results: PromiseSettledResult<unknown>[];
    try {
      results = await Promise.allSettled([
        acceptEvent(deps, order('t-1'), 'idem-turn-1'),
        acceptEvent(deps, order('t-2'), 'idem-turn-2'),
        acceptEvent(deps, order('t-3'), 'idem-turn-3'),
        acceptEvent(deps, order('t-4'), 'idem-turn-race'),
        acceptEvent(deps, order('t-5'), 'idem-turn-race'),
      ]);
    } finally {
      commands.restore();
    }
    assert.deepEqual(commands.names, ['evalsha'], 'five checks, one request');
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
    );
    const refused = results[4] as PromiseRejectedResult;
    assert.ok(refused.reason instanceof IdempotencyKeyReusedError, String(refused.reason));
  });

  it('a retry of the same event passes, another event under the key is refused', async () => {
    await acceptEvent(deps, order('o-3'), 'idem-key-2');
    await acceptEvent(deps, { ...order('o-3'), eventId: 'idem-key-2' }, undefined);
    await assert.rejects(acceptEvent(deps, order('o-4'), 'idem-key-2'), IdempotencyKeyReusedError);
    await assert.rejects(
      acceptEvent(deps, { ...order('o-4'), eventId: 'idem-key-2' }, 'idem-key-2'),
      IdempotencyKeyReusedError,
    );
  });

  it('fails open when Redis does not answer: accepted, counted, and a warning without the key or the event', async () => {
    const proxy = await new TcpProxy('127.0.0.1', Number(new URL(config.redis.url).port || 6379)).start();
    const hung = await connectRedis(
      { ...config, redis: { ...config.redis, url: `redis://127.0.0.1:${proxy.port}` } },
      testLogger,
      'hung',
    );
    const log = capturedLog('debug');
    const failOpen = {
      ...deps,
      idempotency: idempotencyCheck(hung, {
        windowSeconds: 3600,
        waitMs: REDIS_FAIL_OPEN_WAIT_MS,
        logger: log.logger,
        metrics,
      }),
    };
    const uncheckedBefore = (await metrics.idempotencyUnchecked.get()).values[0]?.value ?? 0;
    try {
      proxy.stall();
      const accepted = await acceptEvent(failOpen, order('secret-order-id'), 'secret-idem-key');
      assert.deepEqual(accepted, { eventId: 'secret-idem-key', status: 'accepted' });
      assert.equal((await metrics.idempotencyUnchecked.get()).values[0]?.value, uncheckedBefore + 1);
      assert.match(log.text(), /Idempotency-Key not checked/);
      assert.doesNotMatch(log.text(), /secret-idem-key|secret-order-id/);
    } finally {
      await proxy.close();
      hung.disconnect();
    }
  });
});
