import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../shared/keys.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { AppClient } from '../helpers/app-client.js';
import { replayCounts } from '../helpers/ws-client.js';

/**
 * A user offline for longer than the Redis buffer keeps notifications still gets every one:
 * jobs stored it as undelivered, the ws-server replays it from MongoDB, the ACK makes it
 * delivered. The buffer lasts 3 seconds here so the test can outwait it.
 */
describe('a user offline longer than the buffer', () => {
  let p: Pipeline;
  let redis: Redis;
  before(async () => {
    p = await startPipeline('offlinepast', { BUFFER_TTL_SECONDS: '3' });
    redis = await connectRedis(p.config, testLogger, 'test-observer');
  });
  after(async () => {
    await closeRedis(redis);
    await p.close();
  });

  it('gets the notification from MongoDB after the buffered copy expired, and the ACK makes it delivered', async () => {
    const accepted = await p.post('/events', {
      type: 'MENTION',
      actorId: 'user9',
      targetId: 'user10',
      postId: 'post2',
    });
    assert.equal(accepted.status, 202);

    const history = async () =>
      (
        (await p.request('GET', '/users/user10/notifications', 'user10')).body as {
          notifications: Array<{ id: string; status: string; message: string }>;
        }
      ).notifications;
    const [stored] = await eventually(
      async () => {
        const items = await history();
        return items.length === 1 && items[0]!.status === 'undelivered' ? items : undefined;
      },
      { what: 'the notification stored as undelivered' },
    );
    await eventually(async () => (await redis.exists(keys.notification('user10', stored!.id))) === 0, {
      what: 'the buffered copy to expire',
    });

    const client = await AppClient.open(p.wsPort, { token: await p.token('user10') });
    try {
      // Only MongoDB holds it now: AUTH_OK (Redis alone) knows of nothing, the catch-up brings it.
      const authOk = client.authOk();
      assert.deepEqual([authOk.pending, authOk.catchingUp], [0, true]);
      const [n] = await client.waitForNotifications(1);
      assert.deepEqual(replayCounts(await client.next('REPLAY_DONE')), {
        type: 'REPLAY_DONE',
        pending: 1,
        recovered: true,
      });
      assert.deepEqual(
        await client.resume(),
        { recovered: true, replayed: 1, pending: 1 },
        'the client ends the replay at REPLAY_DONE',
      );
      assert.equal(n!.id, stored!.id);
      assert.equal(n!.message, 'Edsger mentioned you in a post');
      client.client.ack(stored!.id);
      assert.deepEqual((await client.next('ACKED')).ids, [stored!.id]);
    } finally {
      await client.close();
    }
    await eventually(async () => (await history()).find((n) => n.id === stored!.id && n.status === 'delivered'), {
      what: 'the stored notification to become delivered',
    });
  });
});
