import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import { after, before, describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { keys } from '../../shared/keys.js';
import { models, type Models } from '../../shared/models/index.js';
import type { Redis } from '../../shared/redis.js';
import { pendingScore } from '../helpers/buffer.js';
import { testEnv } from '../helpers/config.js';
import { storedNotification } from '../helpers/stored-notification.js';
import { WsTestClient, replayCounts } from '../helpers/ws-client.js';
import { wsServerSuite } from '../helpers/ws-suite.js';

const REPLAY_LIMIT = 50;
const { config } = testEnv('wsresume', { REPLAY_LIMIT: String(REPLAY_LIMIT), WS_MAX_FRAMES_PER_SECOND: '1000' });
const suite = wsServerSuite(config);

/**
 * The replies of the Lua scripts a client's commands ran (EVALSHA, or EVAL after NOSCRIPT), in
 * order: what the ws-server's replay read took out of Redis, counted without timing anything.
 */
function recordScriptReplies(redis: Redis): { replies: unknown[][]; restore(): void } {
  type Command = { name: string; promise: Promise<unknown> };
  const client = redis as unknown as { sendCommand: (command: Command, ...rest: unknown[]) => unknown };
  const original = client.sendCommand;
  const replies: unknown[][] = [];
  client.sendCommand = function (this: unknown, command, ...rest) {
    if (command.name === 'evalsha' || command.name === 'eval')
      command.promise.then(
        (reply) => Array.isArray(reply) && replies.push(reply),
        () => undefined,
      );
    return original.call(this, command, ...rest);
  };
  return { replies, restore: () => void (client.sendCommand = original) };
}

describe('ws-server: AUTH with lastSeq', () => {
  let mongo: mongoose.Connection;
  let db: Models;
  before(async () => {
    mongo = await mongoose.createConnection(config.mongo.url).asPromise();
    db = models(mongo);
  });
  after(() => mongo.close());

  const authed = async (userId: string, lastSeq?: number) => {
    const [client, ok] = await WsTestClient.authed(suite.server.port, {
      token: await signUserToken(userId, config.auth.jwtSecret),
      ...(lastSeq === undefined ? {} : { lastSeq }),
    });
    suite.clients.push(client);
    return [client, ok] as const;
  };

  it('a lastSeq above the user seq (Redis lost its data, the counter started again) replays everything and says resumeReset', async () => {
    // Redis restarted empty: the seq counter starts again. One new notification is buffered
    // (seq 1), and one whose commit the loss undid is in MongoDB only, undelivered (seq 2 by
    // then; jobs stored it from its persist job). The client last saw seq 40.
    const user = 'reset-user';
    const buffered = await suite.consumer.buffer(await suite.consumer.make(user));
    assert.equal(buffered.seq, 1);
    await db.Notification.create(storedNotification({ _id: 'lost-commit', userId: user, seq: 2 }));

    const [client, ok] = await authed(user, 40);
    assert.equal(ok.pending, 1, 'the buffered one counts: the lastSeq was ignored');
    assert.equal(ok.catchingUp, true);
    assert.deepEqual(replayCounts(await client.next('REPLAY_DONE')), {
      type: 'REPLAY_DONE',
      pending: 2,
      recovered: true,
    });
    assert.deepEqual(
      new Set(client.notificationIds()),
      new Set([buffered.id, 'lost-commit']),
      'both replayed: the buffered one and, by the catch-up, the one only MongoDB holds',
    );
    assert.equal(ok.resumeReset, true, 'AUTH_OK tells the client its resume point is gone');
    assert.equal(ok.seq, 1, "the server's seq: the client's new resume point after this replay");

    // A lastSeq the user's seq has reached is followed, and no reset is announced.
    const [, resumedOk] = await authed(user, 1);
    assert.equal(resumedOk.resumeReset, undefined);
    assert.equal(resumedOk.pending, 0, 'Redis holds nothing after seq 1');
  });

  it('reads at most REPLAY_LIMIT notifications out of Redis for a resume, however many are pending', async () => {
    const user = 'many-pending';
    const N = 2000;
    const r = suite.consumer.redis;
    const body = (seq: number) =>
      JSON.stringify({
        id: `id${seq}`,
        userId: user,
        seq,
        type: 'LIKE',
        priority: 5,
        actors: ['a'],
        actorCount: 1,
        objectId: 'p',
        message: 'x'.repeat(200),
        createdAt: new Date().toISOString(),
        version: 1,
        eventIds: [`e${seq}`],
      });
    const p = r.pipeline();
    for (let seq = 1; seq <= N; seq++) {
      p.set(keys.notification(user, `id${seq}`), body(seq), 'EX', 3600);
      p.zadd(keys.inbox(user), pendingScore({ priority: 5, seq }), `id${seq}`);
    }
    p.set(keys.seq(user), String(N));
    p.set(keys.replayClean(user), '1', 'EX', 3600); // MongoDB holds nothing else: no catch-up
    await p.exec();

    const lastSeq = 100;
    const recorded = recordScriptReplies(suite.server.redis);
    try {
      const [client, ok] = await authed(user, lastSeq);
      assert.equal(ok.pending, N - lastSeq, 'every one after lastSeq is counted');
      assert.equal(ok.recovered, false, 'more than REPLAY_LIMIT remain');
      const frames = await client.waitForNotifications(REPLAY_LIMIT);
      assert.deepEqual(
        frames.map((f) => f.notification.seq),
        Array.from({ length: REPLAY_LIMIT }, (_, i) => lastSeq + 1 + i),
        'the first REPLAY_LIMIT after lastSeq, oldest first',
      );
      // What the replay read returned: the notifications it read (each a GET), counted by their
      // JSON. Before, a resume read and returned the whole inbox (2000 here, 20,000 in the
      // report: ~100 ms of Redis and ~4 MB); now the window, plus the earliest pending (seq 1).
      const ofUser = (reply: unknown[]) =>
        reply.filter((v) => typeof v === 'string' && v.includes(`"userId":"${user}"`)).length;
      const read = recorded.replies.filter((reply) => ofUser(reply) > 0);
      assert.equal(read.length, 1, 'one script call read the replay');
      assert.ok(
        ofUser(read[0]!) <= REPLAY_LIMIT + 1,
        `the replay read returned ${ofUser(read[0]!)} notifications for a limit of ${REPLAY_LIMIT}`,
      );
    } finally {
      recorded.restore();
    }
  });

  it('a resume replays across priority bands: priority first, then seq, from after lastSeq only', async () => {
    const user = 'bands';
    const made = [];
    // seq 1..9: promotional, social, transactional, three times over.
    for (let i = 0; i < 3; i++) {
      made.push(await suite.consumer.buffer(await suite.consumer.make(user, { priority: 1, type: 'PROMO' })));
      made.push(await suite.consumer.buffer(await suite.consumer.make(user, { priority: 5 })));
      made.push(await suite.consumer.buffer(await suite.consumer.make(user, { priority: 9, type: 'SECURITY' })));
    }
    await suite.consumer.redis.set(keys.replayClean(user), '1', 'EX', 3600);
    const [client, ok] = await authed(user, 4);
    assert.equal(ok.pending, 5);
    assert.equal(ok.recovered, true);
    const frames = await client.waitForNotifications(5);
    assert.deepEqual(
      frames.map((f) => [f.notification.priority, f.notification.seq]),
      [
        [9, 6],
        [9, 9],
        [5, 5],
        [5, 8],
        [1, 7],
      ],
    );
  });
});
