import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../shared/keys.js';
import { drainAcks } from '../helpers/acks-queue.js';
import { markPersisted } from '../helpers/buffer.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { ROOT, startBuilt, type RunningService } from '../helpers/process.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { eventually } from '../helpers/wait.js';
import type { LoadChildMessage, LoadParentMessage, LoadReport } from '../helpers/ws-load-client.js';

/*
 * SIGTERM of the built ws-server with thousands of authenticated sockets open, notifications
 * being pushed and every client ACKing them (issue #16: it exited 21 s after the signal, having
 * failed the 35,000 ACKs it held). It must exit 0
 * within SHUTDOWN_TIMEOUT_MS, close every socket with 1001 (docs/protocol.md), and lose no ack:
 * every ACK it answered ACKED for, and every ack it wrote to Redis at all, is marked in the buffer
 * and published to the acks queue (every notification here counts as stored already: no
 * `unpersisted` mark, so each ACK is a broker publish with a confirm). A fresh instance then
 * replays none of them.
 *
 * Users have several devices (WS_MAX_SOCKETS_PER_USER allows 10), so each push is ACKed by each
 * of them: enough ACKs to load the instance and the broker on a 2-core machine. The sockets live
 * in child processes (test/helpers/ws-load-client.ts), so their handshakes and ACKs do not queue
 * behind this process's event loop.
 */
const SOCKETS = 3000;
const DEVICES = 10;
const USERS = SOCKETS / DEVICES;
const CHILDREN = 2;
const SHUTDOWN_TIMEOUT_MS = 10_000;
/**
 * Notifications pushed (buffer + wake, as the consumer does) per second while the server runs,
 * each to 10 devices: more ACKs than this machine's instance and broker confirm, so work piles up.
 */
const PUSHES_PER_SECOND = 700;
/** Confirmed ACKs before the signal: the flow is established. */
const ACKS_BEFORE_SIGTERM = 200;
/**
 * Then this long of pushes and ACKs before the signal: where ACKs come faster than the instance
 * and the broker confirm them, the work in hand grows with it (it grew without bound before #16).
 */
const FLOW_MS = 10_000;

const { env, config } = testEnv('wsdrain', { WS_AUTH_MODE: 'dev', SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
const CLIENT_SCRIPT = resolve(import.meta.dirname, '../helpers/ws-load-client.ts');
/** One entry per socket: the user it authenticates as. */
const users = Array.from({ length: SOCKETS }, (_, i) => `drain${i % USERS}`);

function nextMessage<T extends LoadChildMessage['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<LoadChildMessage, { type: T }>> {
  return new Promise((resolvePromise, reject) => {
    const onMessage = (message: LoadChildMessage) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolvePromise(message as Extract<LoadChildMessage, { type: T }>);
    };
    const onExit = (code: number | null) =>
      reject(new Error(`load client exited (code ${code}) while waiting for "${type}"`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** The load clients, each holding its share of `users`. */
class Fleet {
  readonly children: ChildProcess[] = [];

  async start(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const child = fork(CLIENT_SCRIPT, [], {
        cwd: ROOT,
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      this.children.push(child);
      await nextMessage(child, 'ready');
    }
  }

  async connect(
    port: number,
    ack: boolean,
  ): Promise<{ authed: number; failures: number; firstFailure: string | null }> {
    const results = await Promise.all(
      this.children.map((child, i) => {
        const share = users.filter((_, u) => u % this.children.length === i);
        const done = nextMessage(child, 'connected');
        child.send({
          type: 'connect',
          port,
          userIds: share,
          concurrency: 50,
          ack,
          replayLimit: config.ws.replayLimit,
        } satisfies LoadParentMessage);
        return done;
      }),
    );
    return {
      authed: results.reduce((s, r) => s + r.authed, 0),
      failures: results.reduce((s, r) => s + r.failures, 0),
      firstFailure: results.find((r) => r.firstFailure !== null)?.firstFailure ?? null,
    };
  }

  async report(): Promise<LoadReport> {
    const reports = await Promise.all(
      this.children.map((child) => {
        const reply = nextMessage(child, 'report');
        child.send({ type: 'report' } satisfies LoadParentMessage);
        return reply;
      }),
    );
    const closeCodes: Record<string, number> = {};
    for (const r of reports)
      for (const [code, n] of Object.entries(r.closeCodes)) closeCodes[code] = (closeCodes[code] ?? 0) + n;
    return {
      open: reports.reduce((s, r) => s + r.open, 0),
      received: reports.reduce((s, r) => s + r.received, 0),
      acked: mergeAcked(reports.map((r) => r.acked)),
      receivedAfterAck: reports.flatMap((r) => r.receivedAfterAck),
      closeCodes,
      pending: reports.reduce((s, r) => s + r.pending, 0),
      replayExpected: reports.reduce((s, r) => s + r.replayExpected, 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.send({ type: 'close' } satisfies LoadParentMessage);
        await exited;
      }),
    );
  }
}

/** A user's devices may sit in different children: the union per user. */
function mergeAcked(all: Array<Record<string, string[]>>): Record<string, string[]> {
  const merged = new Map<string, Set<string>>();
  for (const acked of all)
    for (const [userId, ids] of Object.entries(acked))
      merged.set(userId, new Set([...(merged.get(userId) ?? []), ...ids]));
  return Object.fromEntries([...merged].map(([userId, ids]) => [userId, [...ids]]));
}

const ackCount = (report: LoadReport) => Object.values(report.acked).reduce((s, ids) => s + ids.length, 0);

describe(`ws-server SIGTERM with ${SOCKETS} sockets open and ACKs flowing`, () => {
  let ws: RunningService | undefined;
  let consumer: SimulatedConsumer;
  const fleet = new Fleet();

  before(async () => {
    consumer = await SimulatedConsumer.start(config);
    await fleet.start(CHILDREN);
  });
  after(async () => {
    await ws?.stop('SIGKILL');
    await fleet.close();
    await consumer.close();
    await cleanupTestResources(config);
  });

  it('exits 0 within SHUTDOWN_TIMEOUT_MS, closes every socket with 1001 and loses no confirmed ACK', async () => {
    ws = await startBuilt('ws-server', env);
    const running = ws;
    const connected = await fleet.connect(running.port, true);
    assert.equal(connected.authed, SOCKETS, `every socket authenticated (first failure: ${connected.firstFailure})`);

    // Notifications for random users until the server is gone: already stored (no `unpersisted`
    // mark), so each ACK of one is a broker publish with a confirm, the step a shutdown can cut.
    const pushed: Array<{ userId: string; id: string }> = [];
    let flowing = true;
    const pushOne = async () => {
      const n = await consumer.make(`drain${Math.floor(Math.random() * USERS)}`);
      await consumer.buffer(n);
      await markPersisted(consumer.redis, n.userId, [n.id]);
      await consumer.push(n);
      pushed.push({ userId: n.userId, id: n.id });
    };
    // At a steady rate, not as fast as this process can: the load is the same on any machine.
    const pushing = (async () => {
      const startedMs = Date.now();
      let started = 0;
      while (flowing) {
        const due = Math.floor(((Date.now() - startedMs) / 1000) * PUSHES_PER_SECOND);
        const batch: Array<Promise<void>> = [];
        for (; started < due && batch.length < PUSHES_PER_SECOND; started++) batch.push(pushOne());
        await Promise.all(batch);
        await sleep(10);
      }
    })();
    await eventually(async () => ackCount(await fleet.report()) >= ACKS_BEFORE_SIGTERM, {
      what: 'ACKs to flow',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    await sleep(FLOW_MS);

    const failedAcks = () => running.output().split('frame handling failed').length - 1;
    const failedBefore = failedAcks();
    const startedMs = Date.now();
    const code = await running.stop('SIGTERM');
    const tookMs = Date.now() - startedMs;
    flowing = false;
    await pushing;
    const closedLine =
      running
        .output()
        .split('\n')
        .find((l) => l.includes('ws-server closed') || l.includes('drain timed out')) ?? '(no summary line)';
    console.log(
      `ws-server SIGTERM with ${SOCKETS} sockets open and ${pushed.length} notifications pushed: exit ${code} after ${tookMs} ms; ` +
        `frames failed before the signal ${failedBefore}, after ${failedAcks() - failedBefore}; ${closedLine}`,
    );
    assert.equal(code, 0, `exit 0 after ${tookMs} ms:\n${running.output().split('\n').slice(-15).join('\n')}`);
    assert.ok(
      tookMs < SHUTDOWN_TIMEOUT_MS,
      `exited within SHUTDOWN_TIMEOUT_MS: ${tookMs} ms from the signal to the exit`,
    );

    const report = await eventually(
      async () => {
        const r = await fleet.report();
        return r.open === 0 ? r : undefined;
      },
      { what: 'every client to see its socket closed' },
    );
    assert.deepEqual(report.closeCodes, { 1001: SOCKETS }, 'every socket closed with 1001 (going away)');

    // Every ACK the server confirmed: acked in the buffer (no longer pending)...
    const confirmed = Object.entries(report.acked).flatMap(([userId, idVersions]) =>
      idVersions.map((iv) => ({ userId, id: iv.split(':')[0]! })),
    );
    assert.ok(confirmed.length >= ACKS_BEFORE_SIGTERM);
    const [ackedMarks, stillPending] = await Promise.all([
      Promise.all(confirmed.map(({ userId, id }) => consumer.redis.exists(keys.acked(userId, id)))),
      Promise.all(confirmed.map(({ userId, id }) => consumer.redis.zscore(keys.inbox(userId), id))),
    ]);
    const notAcked = confirmed.filter((_, i) => ackedMarks[i] !== 1 || stillPending[i] !== null);
    assert.deepEqual(notAcked.slice(0, 10), [], `${notAcked.length} confirmed ACKs are not marked acked in Redis`);
    // ... and every ack Redis holds, confirmed or cut off by the close, is on the acks queue for jobs.
    const published = new Set((await drainAcks(config)).flatMap((m) => m.notificationIds));
    const unpublished = confirmed.filter(({ id }) => !published.has(id));
    assert.deepEqual(unpublished.slice(0, 10), [], `${unpublished.length} confirmed ACKs never reached the acks queue`);
    const marks = await Promise.all(pushed.map(({ userId, id }) => consumer.redis.exists(keys.acked(userId, id))));
    const ackedInRedisOnly = pushed.filter(({ id }, i) => marks[i] === 1 && !published.has(id));
    assert.deepEqual(
      ackedInRedisOnly.slice(0, 10),
      [],
      `${ackedInRedisOnly.length} acks written to Redis but never published`,
    );

    // A fresh instance: every device reconnects, and no replay carries a notification it acked.
    ws = await startBuilt('ws-server', env);
    const again = await fleet.connect(ws.port, false);
    assert.equal(again.authed, SOCKETS, `every socket authenticated again (first failure: ${again.firstFailure})`);
    const replayed = await eventually(
      async () => {
        const r = await fleet.report();
        return r.received - report.received >= r.replayExpected ? r : undefined;
      },
      { what: 'the replays after the reconnect' },
    );
    assert.ok(replayed.pending > 0, 'some notifications were still pending (pushed after the shutdown began)');
    assert.deepEqual(
      replayed.receivedAfterAck.slice(0, 10),
      [],
      `${replayed.receivedAfterAck.length} acked notifications replayed`,
    );
  });
});
