import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Connection } from 'mongoose';
import { after, before, describe, it } from 'node:test';
import { bootstrap as startProducer, type ProducerService } from '../../producer/bootstrap.js';
import { keys } from '../../shared/keys.js';
import { ensureIndexes, models, type Models } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { seedDemoData } from '../../seed/seed.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { ROOT } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';

/*
 * The consumer runs as a real process (from source through tsx) and is killed with SIGKILL in
 * the middle of a fan-out: a page is half done and unacked. The restarted consumer gets it
 * back and carries on; every follower still ends with exactly one notification.
 */
const FOLLOWERS = 2000;
const CHUNK = 100;
const LAST_PAGE = FOLLOWERS / CHUNK;
const ids = Array.from({ length: FOLLOWERS }, (_, i) => `kf${String(i).padStart(5, '0')}`);
const { env, config } = testEnv('fanoutcrash', {
  FANOUT_CHUNK_SIZE: String(CHUNK),
  FANOUT_CONCURRENCY: '4',
  FANOUT_PREFETCH: '2',
  PERSIST_DELAY_MS: '600000',
});

function startConsumerProcess(): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'consumer/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function kill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGKILL');
  await exited;
}

describe('SIGKILL of the consumer in the middle of a fan-out', () => {
  let producer: ProducerService;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;
  const children: ChildProcess[] = [];
  before(async () => {
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
    await ensureIndexes(m);
    redis = await connectRedis(config, testLogger, 'test');
    await seedDemoData(m, redis);
    const createdAt = new Date();
    for (let i = 0; i < FOLLOWERS; i += 1000) {
      await m.Follow.insertMany(
        ids.slice(i, i + 1000).map((followerId) => ({ followerId, followeeId: 'user1', muted: false, createdAt })),
      );
    }
    producer = await startProducer(config, testLogger);
  });
  after(async () => {
    for (const child of children) await kill(child);
    await producer.close();
    await closeRedis(redis);
    await mongo.close();
    await cleanupTestResources(config);
  });

  /** Pages are published ahead of their work, so the fan-out is over only when every page is done. */
  const pagesDone = async (eventId: string) => {
    const flags = await Promise.all(
      Array.from({ length: LAST_PAGE + 1 }, (_, n) => redis.exists(keys.fanoutPageDone(eventId, n))),
    );
    return flags.filter((f) => f === 1).length;
  };

  const inboxSizes = async () => {
    const replies = (await redis.pipeline(ids.map((id) => ['zcard', keys.inbox(id)])).exec()) ?? [];
    return replies.map(([err, n]) => (err ? -1 : Number(n)));
  };

  it('resumes after the crash and notifies every follower exactly once', async () => {
    const first = startConsumerProcess();
    children.push(first);
    const res = await fetch(`http://127.0.0.1:${producer.port}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'POST', actorId: 'user1', postId: 'post1' }),
    });
    assert.equal(res.status, 202);
    const { eventId } = (await res.json()) as { eventId: string };

    await eventually(async () => (await redis.exists(keys.fanoutPageDone(eventId, 3))) === 1, {
      what: 'a few pages done',
      timeoutMs: 60_000,
      intervalMs: 10,
    });
    await kill(first);
    const atCrash = (await inboxSizes()).filter((n) => n > 0).length;
    assert.ok(atCrash > 0 && atCrash < FOLLOWERS, `killed mid-fan-out (${atCrash}/${FOLLOWERS} notified)`);
    assert.ok((await pagesDone(eventId)) < LAST_PAGE + 1, 'the fan-out had not finished');

    children.push(startConsumerProcess());
    await eventually(async () => (await pagesDone(eventId)) === LAST_PAGE + 1, {
      what: 'the fan-out finished after the restart',
      timeoutMs: 180_000,
      intervalMs: 200,
    });
    const sizes = await inboxSizes();
    const wrong = ids.filter((_, i) => sizes[i] !== 1);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} followers without exactly one notification`);
  });
});
