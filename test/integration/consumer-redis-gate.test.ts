import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis as RawRedis } from 'ioredis';
import { RedisGate, type HoldEnd } from '../../consumer/redis-gate.js';
import { closeRedis, connectRedis } from '../../shared/redis.js';
import { readPending } from '../helpers/buffer.js';
import { testEnv } from '../helpers/config.js';
import { consumerBehindRedisProxy, type ProxiedConsumer } from '../helpers/proxied-consumer.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

/*
 * The consumer's Redis gate (consumer/redis-gate.ts) against real RabbitMQ and Redis, the Redis
 * reached through a TCP proxy the test cuts: once a batch has failed on Redis itself, the events
 * that arrive while it is down wait in the consumer (unacked) instead of failing onto the retry
 * ladder, and commit as soon as Redis answers again, not after a rung.
 */
const RUNG_MS = 8_000;
const test = testEnv('consumergate', {
  // The ladder's first rung is long, so an event that went onto it cannot be what arrives promptly.
  RETRY_BASE_DELAY_MS: String(RUNG_MS),
  PERSIST_DELAY_MS: '600000',
});

const onCluster = test.config.redis.cluster ? 'cuts a single Redis server through a TCP proxy' : false;
describe('consumer: events wait for Redis instead of the retry ladder', { skip: onCluster }, () => {
  let c: ProxiedConsumer;
  before(async () => (c = await consumerBehindRedisProxy(test)));
  after(() => c.close());
  const metric = (name: string, label?: string) => c.metric(name, label);
  const pending = async (userId: string) => (await readPending(c.redis, userId, 100)).total;

  it('holds the events that arrive while Redis is down and commits them the moment it answers', async () => {
    await c.proxy.cut();
    // The first event finds Redis down: it fails onto the ladder, as before, and closes the gate.
    await c.publish({ type: 'FOLLOW', actorId: 'opener', targetId: 'gate-first', eventId: 'gate-first-1' });
    await eventually(async () => (await metric('consumer_events_processed_total', 'outcome="retried"')) === 1, {
      what: 'the first event to fail onto the ladder',
    });

    const held = Array.from({ length: 20 }, (_, i) => ({
      type: 'FOLLOW',
      actorId: `actor-${i}`,
      targetId: 'gate-held',
      eventId: `gate-held-${i}`,
    }));
    for (const e of held) await c.publish(e);
    // Without the gate each of these fails onto the ladder within this (a command waits through two
    // of the Redis client's reconnect attempts, up to 2 s apart, before it fails).
    await sleep(6_000);
    assert.equal(
      await metric('consumer_events_processed_total', 'outcome="retried"'),
      1,
      'no event that arrived while the gate was closed went to the retry ladder',
    );
    assert.equal(await metric('consumer_redis_gate_closed'), 1, 'the gate is closed');
    assert.equal(await pending('gate-held'), 0, 'nothing committed while Redis is away');

    await c.proxy.start();
    const back = performance.now();
    await eventually(async () => (await pending('gate-held')) === 20, {
      what: 'the 20 held events to be buffered once Redis is back',
      timeoutMs: RUNG_MS,
    });
    const tookMs = performance.now() - back;
    assert.ok(tookMs < RUNG_MS / 2, `buffered ${Math.round(tookMs)} ms after Redis came back, not after a rung`);
    assert.equal(await metric('consumer_redis_gate_closed'), 0, 'the gate is open again');
    assert.ok((await metric('consumer_redis_gate_holds_total', 'ended="answered"')) >= 1);
    // The event that failed before the gate closed comes back from its rung: nothing is lost.
    await eventually(async () => (await pending('gate-first')) === 1, {
      what: 'the first event, back from the ladder',
      timeoutMs: RUNG_MS * 3,
    });
  });
});

describe('RedisGate: how a hold ends', () => {
  // Nothing listens on port 1: every command fails at once, as a Redis that went away does.
  const down = () => {
    const r = new RawRedis({
      host: '127.0.0.1',
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    r.on('error', () => undefined);
    return r;
  };
  const outage = async (r: RawRedis): Promise<Error> =>
    r.ping().then(
      () => new Error('answered'),
      (e: Error) => e,
    );

  it('opens when Redis answers, after the hold runs out, or at release, and stays shut to anything but an outage', async () => {
    const { config: own } = testEnv('redisgate');
    const up = await connectRedis(own, testLogger, 'test');
    const gone = down();
    try {
      const err = await outage(gone);
      const ends: HoldEnd[] = [];
      const opened = (_: number, ended: HoldEnd) => ends.push(ended);

      // A failure of the event's own (a script error) does not close it.
      const answering = new RedisGate(up, { maxHoldMs: 5_000, probeIntervalMs: 50 }, { opened });
      answering.note([new Error('ERR user_script:1: Script attempted to access nonexistent global variable')]);
      assert.equal(answering.isClosed, false);
      answering.note(['buffered', err]);
      assert.equal(answering.isClosed, true);
      await answering.whenOpen();
      assert.equal(answering.isClosed, false);

      const expiring = new RedisGate(gone, { maxHoldMs: 400, probeIntervalMs: 50 }, { opened });
      expiring.note([err]);
      const start = performance.now();
      await expiring.whenOpen();
      const heldMs = performance.now() - start;
      assert.ok(heldMs >= 350 && heldMs < 3_000, `held ${Math.round(heldMs)} ms for a 400 ms hold`);

      const released = new RedisGate(gone, { maxHoldMs: 60_000, probeIntervalMs: 50 }, { opened });
      released.note([err]);
      const waiting = released.whenOpen();
      await sleep(100);
      released.release();
      await waiting;
      released.note([err]);
      assert.equal(released.isClosed, false, 'a released gate never closes again');

      const off = new RedisGate(gone, { maxHoldMs: 0, probeIntervalMs: 50 }, { opened });
      off.note([err]);
      assert.equal(off.isClosed, false, 'CONSUMER_REDIS_OUTAGE_HOLD_MS=0: no gate');

      assert.deepEqual(ends, ['answered', 'expired', 'released']);

      // Nothing waiting: the probe runs all the same, so a Redis back while the consumer is idle
      // opens the gate, and a hold that held nothing does not use up the outage's one hold.
      const idleBack = new RedisGate(up, { maxHoldMs: 5_000, probeIntervalMs: 50 });
      idleBack.note([err]);
      await eventually(async () => !idleBack.isClosed, { what: 'the idle gate to open once Redis takes a write' });
      const idleDown = new RedisGate(gone, { maxHoldMs: 300, probeIntervalMs: 50 });
      idleDown.note([err]);
      await eventually(async () => !idleDown.isClosed, { what: 'the idle hold to run out' });
      idleDown.note([err]);
      assert.equal(idleDown.isClosed, true, 'an expired hold that held nothing leaves the gate armed');
      idleDown.release();
    } finally {
      gone.disconnect();
      await closeRedis(up);
    }
  });

  it('stays closed while Redis answers but refuses writes, holds once per outage, and re-arms once a batch commits', async () => {
    // A server of its own at its memory limit: PING answers, every write is refused with OOM.
    const port = await freePort();
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    const full = new RawRedis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    full.on('error', () => undefined);
    try {
      await eventually(async () => (await full.ping().catch(() => '')) === 'PONG', { what: 'the spare redis-server' });
      await full.config('SET', 'maxmemory-policy', 'noeviction');
      await full.config('SET', 'maxmemory', '1');
      const oom = await full.set('k', 'v').then(
        () => new Error('the write was taken'),
        (e: Error) => e,
      );
      assert.match(oom.message, /^OOM /);
      const ends: HoldEnd[] = [];
      const gate = new RedisGate(full, { maxHoldMs: 600, probeIntervalMs: 50 }, { opened: (_, e) => ends.push(e) });
      gate.note([oom]);
      assert.equal(gate.isClosed, true);
      await gate.whenOpen();
      assert.deepEqual(ends, ['expired'], 'PING answers, but the write probe keeps it closed until the hold runs out');
      gate.note([oom]);
      assert.equal(gate.isClosed, false, 'one hold per outage: the next failures go down the ladder');
      gate.note(['buffered']);
      gate.note([oom]);
      assert.equal(gate.isClosed, true, 'a batch that committed something arms it again');
      gate.release();
      await gate.whenOpen();
    } finally {
      full.disconnect();
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
  });
});

/** A loopback port nothing listens on now. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
