import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { applyToFollowGraph } from '../../consumer/follow-graph.js';
import type { ParsedEvent } from '../../consumer/parse-event.js';
import { ensureIndexes, models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('followorder');
const PAIRS = 40;

/*
 * The consumer writes the follow graph beside the commit, so a FOLLOW and the UNFOLLOW after it
 * (one batch, or consecutive ones) are in flight together: the pair's writes must still apply in
 * arrival order, or a delete that finishes first leaves the edge the user removed.
 */
describe('follow graph writes of one pair apply in arrival order', () => {
  let mongo: Connection;
  let m: Models;
  before(async () => {
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
    await ensureIndexes(m);
  });
  after(async () => {
    await mongo.close();
    await cleanupTestResources(config);
  });

  const event = (type: 'FOLLOW' | 'UNFOLLOW', actorId: string, targetId: string): ParsedEvent => ({
    type,
    actorId,
    targetId,
    eventId: `${type}-${actorId}-${targetId}-${Math.random()}`,
  });

  it('FOLLOW then UNFOLLOW started together leaves no edge; FOLLOW, UNFOLLOW, FOLLOW leaves one', async () => {
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < PAIRS; i++) {
      writes.push(applyToFollowGraph(m.Follow, event('FOLLOW', `a${i}`, 'star')));
      writes.push(applyToFollowGraph(m.Follow, event('UNFOLLOW', `a${i}`, 'star')));
      writes.push(applyToFollowGraph(m.Follow, event('FOLLOW', `b${i}`, 'star')));
      writes.push(applyToFollowGraph(m.Follow, event('UNFOLLOW', `b${i}`, 'star')));
      writes.push(applyToFollowGraph(m.Follow, event('FOLLOW', `b${i}`, 'star')));
    }
    await Promise.all(writes);
    const edges = (await m.Follow.find({ followeeId: 'star' }, { followerId: 1 }).lean()).map((e) => e.followerId);
    assert.deepEqual(
      edges.filter((f) => f.startsWith('a')),
      [],
      'every unfollowed edge is gone',
    );
    assert.equal(edges.filter((f) => f.startsWith('b')).length, PAIRS, 'every followed-again edge is there');
  });
});
