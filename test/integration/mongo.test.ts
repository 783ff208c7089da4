import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testEnv } from '../helpers/config.js';
import { useIndexedModels } from '../helpers/mongo-suite.js';

const { config } = testEnv('mongo');

// Which indexes exist is test/integration/mongo-indexes.test.ts's job.
describe('shared mongoose connection against the MongoDB-compatible server', () => {
  const models = useIndexedModels(config);

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
    await models().Notification.insertMany(docs);
    const history = await models().Notification.find({ userId: 'alice' }).sort({ createdAt: -1, _id: -1 }).lean();
    assert.deepEqual(
      history.map((d) => d._id),
      ['n4', 'n2'],
    );
    assert.equal(await models().Notification.countDocuments({ userId: 'alice', status: { $ne: 'read' } }), 1);
  });

  it('upserts idempotently by id', async () => {
    const write = () =>
      models().User.bulkWrite([
        {
          updateOne: {
            filter: { _id: 'u1' },
            update: { $set: { name: 'Ada' }, $setOnInsert: { createdAt: new Date() } },
            upsert: true,
          },
        },
      ]);
    await write();
    await write();
    assert.equal(await models().User.countDocuments({ _id: 'u1' }), 1);
  });
});
