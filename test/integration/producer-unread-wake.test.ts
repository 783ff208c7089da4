import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { bufferNotification } from '../helpers/buffer.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { keys } from '../../shared/keys.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';
import { WakeListener } from '../helpers/wake-listener.js';

const { config } = testEnv('produnreadwake');

/** A read through the HTTP API announces the changed count to the ws-servers holding the user (their wake channels). */
describe('producer: the unread wake', () => {
  let producer: ProducerService;
  let redis: Redis;
  let instance: WakeListener;
  const heard = () => instance.heard;

  before(async () => {
    producer = await bootstrap(config, testLogger);
    redis = await connectRedis(config, testLogger, 'test');
    // A ws-server instance holding the reader's socket, as far as the wake route can tell.
    instance = await WakeListener.start(config, ['reader']);
  });
  after(async () => {
    await producer.close();
    await instance.close();
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  it('publishes {kind:"unread", userId} to the instance holding the user when a read lowers the count', async () => {
    const userId = 'reader';
    const id = uuidv7();
    await bufferNotification(
      redis,
      {
        id,
        userId,
        seq: 1,
        type: 'LIKE',
        priority: 5,
        actors: ['a'],
        actorCount: 1,
        objectId: 'post1',
        message: 'a liked your post',
        createdAt: new Date().toISOString(),
        version: 1,
        eventIds: [],
      },
      60,
    );
    const res = await fetch(`http://127.0.0.1:${producer.port}/notifications/${id}/read`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${await signUserToken(userId, config.auth.jwtSecret)}` },
    });
    assert.equal(res.status, 200);
    // The route publishes its wakes before it answers, so a marker published on the same channel
    // now comes after all of them: once it is heard, every wake of the read was heard too.
    const marker = JSON.stringify({ marker: uuidv7() });
    await redis.publish(keys.wakeChannel(config.redis.keyPrefix, instance.instanceId), marker);
    await eventually(() => heard().includes(marker), { what: 'the marker published after the read' });
    const wakes = heard().slice(0, heard().indexOf(marker));
    assert.deepEqual(
      wakes.map((raw) => JSON.parse(raw) as unknown),
      [{ kind: 'unread', userId }],
      'exactly one unread wake',
    );
  });
});
