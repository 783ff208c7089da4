import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import amqplib from 'amqplib';
import { createTopology } from '../../../shared/amqp/topology.js';
import type { Config } from '../../../shared/config.js';
import type { Models } from '../../../shared/models/index.js';
import type { Redis } from '../../../shared/redis.js';
import { eventually } from '../wait.js';
import type { ClientFleet } from './clients.js';
import { reconcile, settled, type ScenarioRow } from './ledger.js';
import { runLoad } from './load.js';
import type { ServiceProcesses } from './processes.js';

/** What one scenario of a fault-injection suite runs against. */
export interface ScenarioSetup {
  processes: ServiceProcesses;
  fleet: ClientFleet;
  users: string[];
  /** The suite's own reads of MongoDB and Redis, for the ledger. */
  models: Models;
  redis: Redis;
  eventsPerScenario: number;
  eventsPerSecond: number;
  /** The fault comes this long into the stream. */
  faultAfterMs: number;
}

/**
 * One scenario: a steady stream of events (each POST retried with its Idempotency-Key until a
 * 202), the fault injected `faultAfterMs` into it, then the wait for the pipeline to settle and
 * the ledger. `inject` may return a line about what it did (which node, how long the takeover
 * took); it is printed under the table. If connected clients still miss notifications after
 * `settleMs`, every client reconnects once, the pipeline gets `afterReconnectMs` more, and the row
 * says so (`neededReconnect`). That reconnect is a diagnosis, not a pass: it tells a notification
 * that was kept (the AUTH replay delivers it) from one that was lost, but a client that stays
 * connected must get its notifications live, so assertLedger fails a row that needed it. A
 * scenario that expects the pipeline never to settle (a failover that undid ACKs leaves them
 * stored undelivered) waits less and says in its own check that it allows the reconnect.
 */
export async function runScenario(
  setup: ScenarioSetup,
  name: string,
  runId: string,
  inject: () => Promise<string | void>,
  { settleMs = 45_000, afterReconnectMs = 60_000 } = {},
): Promise<ScenarioRow> {
  const { processes, fleet, models, redis } = setup;
  const sweptBefore = await sweptTotal(processes);
  const load = runLoad({
    runId,
    users: setup.users,
    count: setup.eventsPerScenario,
    ratePerSecond: setup.eventsPerSecond,
    producerUrl: () => processes.producerUrl(),
    perEventDeadlineMs: 120_000,
  });
  // The load runs on; a failed injection must not leave it unawaited.
  load.catch(() => undefined);
  await sleep(setup.faultAfterMs);
  const note = await inject();
  const result = await load;
  assert.deepEqual(result.unexpected, [], 'every POST ends with a 202 (503s and lost connections are retried)');
  assert.equal(result.withoutRetryAfter, 0, 'every 503 carries Retry-After');

  const isSettled = () => settled(result.accepted, fleet.records(), models);
  let neededReconnect = false;
  const ok = await eventually(isSettled, {
    what: 'the pipeline to settle',
    timeoutMs: settleMs,
    intervalMs: 1000,
  }).catch(() => false);
  if (!ok) {
    neededReconnect = true;
    fleet.reconnectAll();
    await eventually(isSettled, {
      what: 'the pipeline to settle after reconnects',
      timeoutMs: afterReconnectMs,
      intervalMs: 1000,
    }).catch(() => false);
  }
  // A jobs process restarted by the scenario starts its counter again from 0.
  const swept = Math.max(0, (await sweptTotal(processes)) - sweptBefore);
  const notes = [
    ...(note ? [note] : []),
    // Not a failure (the sweep is how the pipeline stores them), but a persist job was lost or
    // held up past PERSIST_SWEEP_AFTER_MS, or a Redis failover brought back marks jobs had
    // cleared: the jobs log names the notifications.
    ...(swept > 0
      ? [
          `the persist sweep handed ${swept} notifications to jobs again (a persist job lost or late, or marks a Redis failover brought back)`,
        ]
      : []),
  ];
  return {
    ...(await reconcile(name, runId, result.accepted, fleet.records(), models, redis)),
    retriedPosts: result.retried,
    swept,
    neededReconnect,
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
}

/** jobs_persist_swept_total{outcome="handed_over"} over the live jobs processes (0 for one that does not answer). */
async function sweptTotal(processes: Pick<ServiceProcesses, 'ports'>): Promise<number> {
  const counts = await Promise.all(
    processes.ports('jobs').map(async (port) => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) }).then(
        (r) => r.text(),
        () => '',
      );
      const line = text
        .split('\n')
        .find((l) => l.startsWith('jobs_persist_swept_total{') && l.includes('outcome="handed_over"'));
      return line ? Number(line.split(' ').at(-1)) : 0;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * What every scenario must end with: nothing lost, nothing shown again after its ACKED, one
 * notification per event stored exactly once in its final state, and every service still
 * running (none may die because a dependency went away).
 */
export function assertLedger(row: ScenarioRow, processes: Pick<ServiceProcesses, 'exited'>): void {
  const problems = row.problems.join('; ');
  assert.deepEqual(processes.exited(), [], 'no service died on its own');
  assert.equal(row.lost, 0, `lost: ${problems}`);
  assert.equal(row.duplicatesAfterAck, 0, problems);
  assert.equal(row.duplicateNotifications, 0, problems);
  assert.equal(row.persistedTwice, 0, problems);
  assert.equal(row.wrongState, 0, problems);
  assert.equal(row.delivered, row.accepted, `every accepted event reached its (connected) user: ${problems}`);
  assert.equal(row.persisted, row.accepted, `every notification persisted exactly once: ${problems}`);
  assertLiveDelivery(row);
}

/**
 * Connected clients got every notification live: the pipeline settled without the forced
 * reconnect of every client. Without this, a fault after which ws-servers stopped pushing (a
 * lost wake subscription, a stalled consumer) would pass the ledger, because the AUTH replay of
 * the reconnect delivers everything that was kept.
 */
export function assertLiveDelivery(row: Pick<ScenarioRow, 'scenario' | 'neededReconnect'>): void {
  assert.equal(
    row.neededReconnect,
    false,
    `${row.scenario}: connected clients stopped getting live pushes after the fault; ` +
      'the rest arrived only when every client reconnected (the AUTH replay)',
  );
}

/** Messages in the dead-letter queues that must stay empty, asked of the first node of `urls` that answers. */
export async function deadLetters(config: Config): Promise<Record<string, number>> {
  const t = createTopology(config);
  let lastError: unknown;
  for (const url of config.rabbitmq.urls) {
    let conn: amqplib.ChannelModel;
    try {
      conn = await amqplib.connect(url);
    } catch (err) {
      lastError = err;
      continue;
    }
    try {
      const ch = await conn.createChannel();
      const counts: Record<string, number> = {};
      for (const q of [t.eventsDeadQueue, t.persistDeadQueue]) counts[q] = (await ch.checkQueue(q)).messageCount;
      await ch.close();
      return counts;
    } finally {
      await conn.close();
    }
  }
  throw lastError;
}

/** The final SIGTERM: every service exits 0, and no log line holds a secret. */
export function assertCleanShutdown(codes: Record<string, number | null>, output: string, secrets: string[]): void {
  assert.deepEqual(
    Object.values(codes).filter((c) => c !== 0),
    [],
    `every service exits 0 on SIGTERM: ${JSON.stringify(codes)}`,
  );
  for (const secret of secrets) assert.ok(!output.includes(secret), `logs must not contain ${secret}`);
}
