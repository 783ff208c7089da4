import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { bufferNotification } from '../helpers/buffer.js';
import { keys } from '../../shared/keys.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

const { config } = testEnv('produnreadwake');

/** A read through the HTTP API announces the changed count to every ws-server on the Redis wake channel. */
describe('producer: the unread wake', () => {
  let producer: ProducerService;
  let redis: Redis;
  let subscriber: Redis;
  const heard: string[] = [];

  before(async () => {
    producer = await bootstrap(config, testLogger);
    redis = await connectRedis(config, testLogger, 'test');
    subscriber = redis.duplicate();
    subscriber.on('message', (_channel: string, message: string) => heard.push(message));
    await subscriber.subscribe(keys.wakeChannel(config.redis.keyPrefix));
  });
  after(async () => {
    await producer.close();
    subscriber.disconnect();
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  it('publishes {kind:"unread", userId} on the wake channel when a read lowers the count', async () => {
    const userId = 'reader';
    const id = uuidv7();
    await bufferNotification(redis, {
      id, userId, seq: 1, type: 'LIKE', priority: 5, actors: ['a'], actorCount: 1, objectId: 'post1',
      message: 'a liked your post', createdAt: new Date().toISOString(), version: 1, eventIds: [],
    }, 60);
    const res = await fetch(`http://127.0.0.1:${producer.port}/notifications/${id}/read`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${await signUserToken(userId, config.auth.jwtSecret)}` },
    });
    assert.equal(res.status, 200);
    const wake = await eventually(() => heard[0], { what: 'the unread wake' });
    assert.deepEqual(JSON.parse(wake), { kind: 'unread', userId });
    assert.equal(heard.length, 1);
  });
});
