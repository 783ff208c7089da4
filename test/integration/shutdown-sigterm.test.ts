import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap as bootstrapProducer, type ProducerService } from '../../producer/bootstrap.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { eventsQueueDepth } from '../helpers/events-queues.js';
import { keys } from '../../shared/keys.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { listeningPort, ROOT, untilOutput } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';

/*
 * SIGTERM while a service is busy: it stops taking work, finishes or returns what it holds
 * (unacked messages go back to the broker, never acked unfinished), and exits 0 in its bound.
 * The services run as real processes from source, so nothing else's build state matters.
 */
const { env, config } = testEnv('shutdown', {
  RATE_LIMIT_ACTOR_PER_MINUTE: '1000000',
  RATE_LIMIT_RECIPIENT_PER_MINUTE: '1000000',
  CONSUMER_PREFETCH: '50',
  SHUTDOWN_TIMEOUT_MS: '8000',
});
const topology = createTopology(config);
const EVENTS = 400;

const outputs = new WeakMap<ChildProcess, string[]>();

function spawnService(service: string, logLevel = 'warn'): ChildProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', `${service}/main.ts`], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: logLevel },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  outputs.set(proc, chunks);
  proc.stdout!.on('data', (d: Buffer) => chunks.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => chunks.push(d.toString()));
  return proc;
}

const output = (proc: ChildProcess) => (outputs.get(proc) ?? []).join('');
const jobsListening = (text: string) => /jobs listening/.test(text) || undefined;

/** SIGTERM, and the exit code; the output is in the message of a failed assertion on it. */
async function sigterm(proc: ChildProcess): Promise<number | null> {
  const exit = once(proc, 'exit') as Promise<[number | null]>;
  proc.kill('SIGTERM');
  const [code] = await exit;
  if (code !== 0) console.error(output(proc));
  return code;
}

async function queueDepth(queue: string): Promise<number> {
  return depthOf((ch) => ch.checkQueue(queue).then((q) => q.messageCount));
}

/** The events queues together (one on classic, one per category on quorum). */
async function eventsDepth(): Promise<number> {
  return depthOf((ch) => eventsQueueDepth(ch, topology));
}

async function depthOf(read: (ch: amqplib.Channel) => Promise<number>): Promise<number> {
  const conn = await amqplib.connect(config.rabbitmq.url);
  try {
    const ch = await conn.createChannel();
    const messageCount = await read(ch);
    await ch.close();
    return messageCount;
  } finally {
    await conn.close();
  }
}

describe('SIGTERM under load', () => {
  let producer: ProducerService;
  let redis: Redis;
  const eventIds: string[] = [];

  before(async () => {
    producer = await bootstrapProducer(config, testLogger);
    redis = await connectRedis(config, testLogger);
  });
  after(async () => {
    await producer.close();
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  it('producer: POSTs in flight at SIGTERM of a producer process end in a 202 (and are queued) or fail without a 202', async () => {
    const proc = spawnService('producer', 'info');
    const port = await untilOutput(proc, () => output(proc), listeningPort, {
      what: 'producer to listen',
      timeoutMs: 30_000,
    });
    const before = await eventsDepth();
    const post = (i: number) =>
      fetch(`http://127.0.0.1:${port}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'ORDER', targetId: `pt${i % 20}`, orderId: `term-${i}`, eventId: `term-${i}` }),
      }).then(
        (r) => r.status,
        () => 0,
      );
    // A steady stream, 10 at a time, until the process is gone; SIGTERM lands mid-stream.
    const statuses: number[] = [];
    let next = 0;
    const workers = Array.from({ length: 10 }, async () => {
      while (proc.exitCode === null) statuses.push(await post(next++));
    });
    await eventually(() => statuses.filter((s) => s === 202).length >= 50, { what: 'the producer to accept a few' });
    const code = await sigterm(proc);
    await Promise.all(workers);
    assert.equal(code, 0, 'exit 0');
    const accepted = statuses.filter((s) => s === 202).length;
    assert.ok(accepted >= 50);
    assert.ok(
      statuses.every((s) => s === 202 || s === 503 || s === 0),
      `only 202, 503 or no answer: ${[...new Set(statuses)]}`,
    );
    assert.ok((await eventsDepth()) - before >= accepted, 'every 202 is a message in the queue');
  });

  it('consumer: SIGTERM mid-stream returns unfinished events; a restart makes each event exactly one notification', async () => {
    for (let i = 0; i < EVENTS; i++) eventIds.push(`sd-${i}`);
    const publish = await Promise.all(
      eventIds.map((eventId, i) =>
        fetch(`http://127.0.0.1:${producer.port}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'ORDER', targetId: `sd${i % 20}`, orderId: eventId, eventId }),
        }).then((r) => r.status),
      ),
    );
    assert.ok(publish.every((s) => s === 202));
    const seen = async () =>
      (await Promise.all(eventIds.map((e, i) => redis.exists(keys.eventSeen(`sd${i % 20}`, e))))).filter(Boolean)
        .length;

    let consumer = spawnService('consumer', 'info');
    // SIGTERM before the signal handlers exist would be a plain kill, not a shutdown.
    await untilOutput(
      consumer,
      () => output(consumer),
      (text) => /consumer listening/.test(text) || undefined,
      {
        what: 'the consumer to start',
        timeoutMs: 30_000,
      },
    );
    await eventually(async () => (await seen()) > 20, {
      what: 'the consumer to be busy',
      timeoutMs: 30_000,
      intervalMs: 10,
    });
    assert.equal(await sigterm(consumer), 0, 'exit 0');
    const buffered = await seen();
    assert.ok(buffered < EVENTS, `stopped mid-stream (${buffered} of ${EVENTS})`);
    assert.ok((await eventsDepth()) >= EVENTS - buffered - 200, 'unfinished events are back in the queue');

    consumer = spawnService('consumer');
    await eventually(async () => (await seen()) === EVENTS, {
      what: 'every event processed after the restart',
      timeoutMs: 60_000,
    });
    await eventually(async () => (await eventsDepth()) === 0, { what: 'the events queue to drain' });
    let notifications = 0;
    for (let u = 0; u < 20; u++) notifications += await redis.zcard(keys.inbox(`sd${u}`));
    assert.equal(notifications, EVENTS, 'exactly one notification per event (none lost, none doubled)');
    assert.equal(await queueDepth(topology.eventsDeadQueue), 0);
    assert.equal(await sigterm(consumer), 0);
  });

  it('jobs: SIGTERM mid-batch exits 0; what it did not store is still queued and stored after a restart', async () => {
    const stored = async () => {
      const { connectMongo } = await import('../../shared/mongo.js');
      const { models } = await import('../../shared/models/index.js');
      const mongo = await connectMongo(config, testLogger);
      try {
        return await models(mongo).Notification.countDocuments({ userId: /^sd\d+$/ });
      } finally {
        await mongo.close();
      }
    };
    // The consumer test above left EVENTS persist jobs behind the persist delay.
    let jobs = spawnService('jobs', 'info');
    await untilOutput(jobs, () => output(jobs), jobsListening, { what: 'jobs to start', timeoutMs: 30_000 });
    await eventually(async () => (await stored()) > 0, { what: 'the first batch', timeoutMs: 30_000, intervalMs: 20 });
    assert.equal(await sigterm(jobs), 0, 'exit 0');
    jobs = spawnService('jobs', 'info');
    // The first instance may have stored every batch before it stopped; a SIGTERM before this one
    // installed its handlers would be a plain kill (exit code null), not a shutdown.
    await untilOutput(jobs, () => output(jobs), jobsListening, { what: 'jobs to restart', timeoutMs: 30_000 });
    await eventually(async () => (await stored()) === EVENTS, {
      what: 'every notification stored once',
      timeoutMs: 60_000,
    });
    assert.equal(await queueDepth(topology.persistDeadQueue), 0);
    assert.equal(await sigterm(jobs), 0);
  });
});
