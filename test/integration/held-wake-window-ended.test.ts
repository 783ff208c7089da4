import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap as startConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { loadConfig } from '../../shared/config.js';
import { keys } from '../../shared/keys.js';
import type { Preferences } from '../../shared/preferences.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { readPending } from '../helpers/buffer.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';
import { WakeListener } from '../helpers/wake-listener.js';

/*
 * A do-not-disturb hold is decided before the commit, and the commit publishes no wake for it: the
 * hand-off schedules one for the window's end. If the window ends while the commit waits on Redis,
 * there is nothing left to schedule by the hand-off, and the notification must be woken at once,
 * or it waits in the buffer until the user's next AUTH. Shown by holding the commit in a stalled
 * proxy until the window has ended; the decision reads nothing from Redis (warm caches), so the
 * stall holds the commit itself. The window is set after the consumer's warm-up, so how long
 * that took does not eat into it.
 */
const { env, config } = testEnv('heldwakeended');
const topology = createTopology(config);

function hhmmss(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

const onCluster = config.redis.cluster ? 'stalls a single Redis server through a TCP proxy' : false;
describe('a hold whose window ends during the commit', { skip: onCluster }, () => {
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(config.redis.url).port || 6379));
  let consumer: ConsumerService | undefined;
  let redis: Redis;
  let listener: WakeListener;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;
  const userId = 'held-ended-user';
  const warmUserId = 'held-ended-warm-user';

  before(async () => {
    redis = await connectRedis(config, testLogger, 'test');
    listener = await WakeListener.start(config, [userId]);
    conn = await amqplib.connect(config.rabbitmq.url);
    ch = await conn.createConfirmChannel();
    await proxy.start();
    consumer = await startConsumer(loadConfig({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` }), testLogger);
  });
  after(async () => {
    proxy.unstall();
    await consumer?.close();
    await proxy.close();
    await listener.close();
    await closeRedis(redis);
    await conn.close();
    await cleanupTestResources(config);
  });

  const publish = (body: unknown) =>
    new Promise<void>((resolve, reject) =>
      ch.sendToQueue(topology.eventsQueues.social, Buffer.from(JSON.stringify(body)), { persistent: true }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );

  it('wakes the notification at once instead of scheduling nothing', async () => {
    // Warms the consumer (its first batch, its Redis scripts) and its cache of this actor's name,
    // on a user of its own: however long that takes on a loaded machine, no window runs yet.
    await publish({ type: 'FOLLOW', actorId: 'user1', targetId: warmUserId, eventId: 'held-ended-warm' });
    await eventually(
      async () =>
        (await readPending(redis, warmUserId, 10)).notifications.some((n) => n.eventIds.includes('held-ended-warm')),
      { what: 'the warm-up event buffered' },
    );

    // The window ends on a whole second (HH:MM:SS), about 3 s from now: after the warm-up, so only
    // the one warm event below and the like's decision run inside it.
    const endsAt = Math.ceil((Date.now() + 3000) / 1000) * 1000;
    const prefs: Preferences = {
      mutedTypes: [],
      promotionalOptOut: false,
      doNotDisturb: { start: hhmmss(Date.now() - 60_000), end: hhmmss(endsAt), timeZone: 'UTC' },
    };
    // As shared/preferences.ts stores the copy the consumer reads (never read before: nothing cached).
    await redis.set(keys.preferences(userId), JSON.stringify(prefs), 'EX', 600);
    // Puts this user's preferences in the consumer's cache, so the like's decision reads nothing
    // from Redis. A social event: a transactional one reads no preferences. It is held too; its
    // own wake names only it.
    await publish({ type: 'FOLLOW', actorId: 'user1', targetId: userId, eventId: 'held-ended-prefs' });
    await eventually(
      async () =>
        (await readPending(redis, userId, 10)).notifications.some((n) => n.eventIds.includes('held-ended-prefs')),
      { what: "the event that caches the user's preferences buffered" },
    );

    proxy.stall();
    const like = {
      type: 'LIKE',
      actorId: 'user1',
      targetId: userId,
      postId: 'held-ended-post',
      eventId: 'held-ended-like',
    };
    await publish(like);
    await eventually(() => proxy.heldIncludes(Buffer.from(like.eventId)), { what: 'the commit waiting on Redis' });
    assert.ok(Date.now() < endsAt, 'decided inside the window (else the case shows nothing)');
    await new Promise((resolve) => setTimeout(resolve, endsAt - Date.now() + 300));
    proxy.unstall();

    const notificationId = await eventually(
      async () =>
        (await readPending(redis, userId, 10)).notifications.find((n) => n.eventIds.includes(like.eventId))?.id,
      { what: 'the like buffered' },
    );
    await eventually(
      () =>
        listener
          .wakes<{ userId: string; notificationIds: string[] }>()
          .some((w) => w.userId === userId && w.notificationIds.includes(notificationId)),
      { what: 'a wake naming the like', timeoutMs: 5000 },
    );
  });
});
