import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureIndexes, models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('mongo');

describe('shared mongoose connection against the MongoDB-compatible server', () => {
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

  it('creates the history and unread-count indexes', async () => {
    const indexes = await m.Notification.collection.indexes();
    const keys = indexes.map((i) => JSON.stringify(i.key));
    assert.ok(keys.includes(JSON.stringify({ userId: 1, createdAt: -1, _id: -1 })), keys.join(' '));
    assert.ok(keys.includes(JSON.stringify({ userId: 1, status: 1, createdAt: -1 })), keys.join(' '));
  });

  it('inserts notifications and reads one user newest first through the indexed fields', async () => {
    const base = Date.UTC(2026, 0, 1);
    const docs = [1, 2, 3, 4].map((n) => ({
      _id: `n${n}`,
      userId: n % 2 === 0 ? 'alice' : 'bob',
      seq: n,
      type: 'LIKE',
      actors: ['carol'],
      actorCount: 1,
      objectId: 'post1',
      message: 'carol liked your post',
      priority: 5,
      status: n === 4 ? 'read' : 'undelivered',
      createdAt: new Date(base + n * 1000),
      persistedAt: new Date(),
    }));
    await m.Notification.insertMany(docs);
    const history = await m.Notification.find({ userId: 'alice' }).sort({ createdAt: -1, _id: -1 }).lean();
    assert.deepEqual(
      history.map((d) => d._id),
      ['n4', 'n2'],
    );
    assert.equal(await m.Notification.countDocuments({ userId: 'alice', status: { $ne: 'read' } }), 1);
  });

  it('upserts idempotently by id', async () => {
    const write = () =>
      m.User.bulkWrite([
        { updateOne: { filter: { _id: 'u1' }, update: { $set: { name: 'Ada' }, $setOnInsert: { createdAt: new Date() } }, upsert: true } },
      ]);
    await write();
    await write();
    assert.equal(await m.User.countDocuments({ _id: 'u1' }), 1);
  });
});
