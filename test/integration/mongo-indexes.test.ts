import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import mongoose, { type mongo } from 'mongoose';
import { ensureIndexes, models } from '../../shared/models/index.js';
import { connectionOptions } from '../../shared/mongo.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { useIndexedModels } from '../helpers/mongo-suite.js';

const { config } = testEnv('mongo-indexes');
const { config: monitored } = testEnv('mongo-index-deadline', { MONGO_QUERY_TIMEOUT_MS: '2000' });

type Key = Record<string, 1 | -1>;

/** Field order matters in a compound index, so keys compare as ordered entry lists. */
const keyText = (key: Record<string, unknown>) => JSON.stringify(Object.entries(key));

/**
 * The queries the services run on `notifications`, by shape: equality fields, then the sort.
 * Each needs an index that starts with its equality fields (any order) followed by its sort
 * keys (in order, or all reversed), so the store reads the page in index order instead of
 * sorting every document of the user.
 */
const NOTIFICATION_QUERIES: { query: string; equal: string[]; sort: Key }[] = [
  { query: 'history page (producer/notifications/history.ts)', equal: ['userId'], sort: { createdAt: -1, _id: -1 } },
  {
    query: 'history page by status (producer/notifications/history.ts)',
    equal: ['userId', 'status'],
    sort: { createdAt: -1, _id: -1 },
  },
  {
    query: 'unread count, mark all read (shared/unread.ts, producer/notifications/read.ts)',
    equal: ['userId', 'status'],
    sort: {},
  },
  { query: 'replay of undelivered (ws-server/replay.ts)', equal: ['userId', 'status'], sort: { priority: -1, seq: 1 } },
  { query: 'stored count for the cap (jobs/cap.ts)', equal: ['userId'], sort: {} },
  {
    query: 'oldest read ones beyond the cap (jobs/cap.ts)',
    equal: ['userId', 'status'],
    sort: { createdAt: 1, _id: 1 },
  },
];

function serves(index: Key, q: { equal: string[]; sort: Key }): boolean {
  const fields = Object.entries(index);
  const prefix = fields.slice(0, q.equal.length).map(([f]) => f);
  if (prefix.length !== q.equal.length || !q.equal.every((f) => prefix.includes(f))) return false;
  const rest = fields.slice(q.equal.length, q.equal.length + Object.keys(q.sort).length);
  const sort = Object.entries(q.sort);
  if (rest.length !== sort.length) return false;
  const same = sort.every(([f, d], i) => rest[i]![0] === f && rest[i]![1] === d);
  const reversed = sort.every(([f, d], i) => rest[i]![0] === f && rest[i]![1] === -d);
  return same || reversed;
}

describe('indexes: what the schemas declare is what the store has', () => {
  const models = useIndexedModels(config);

  it('every index every schema declares exists after ensureIndexes (with its uniqueness)', async () => {
    for (const model of Object.values(models())) {
      const existing = await model.collection.indexes();
      const byKey = new Map(existing.map((i) => [keyText(i.key), i]));
      const declared = model.schema.indexes();
      for (const [fields, options] of declared) {
        const found = byKey.get(keyText(fields));
        assert.ok(
          found,
          `${model.collection.collectionName}: index ${keyText(fields)} is missing; the store has ${[...byKey.keys()].join(' ')}`,
        );
        assert.equal(
          Boolean(found.unique),
          Boolean(options.unique),
          `${model.collection.collectionName}: ${keyText(fields)} unique`,
        );
      }
      assert.ok(byKey.has(keyText({ _id: 1 })), `${model.collection.collectionName}: the _id index`);
    }
  });

  it('ensureIndexes is idempotent (a second run at start-up of another instance changes nothing)', async () => {
    const first = await models().Notification.collection.indexes();
    await ensureIndexes(models());
    const second = await models().Notification.collection.indexes();
    assert.deepEqual(second.map((i) => keyText(i.key)).sort(), first.map((i) => keyText(i.key)).sort());
  });

  for (const q of NOTIFICATION_QUERIES) {
    it(`the notification schema has an index for: ${q.query}`, () => {
      const declared = models()
        .Notification.schema.indexes()
        .map(([fields]) => fields as Key);
      assert.ok(
        declared.some((index) => serves(index, q)),
        `no declared index starts with ${q.equal.join(', ')} then ${keyText(q.sort)}; declared: ${declared.map(keyText).join(' ')}`,
      );
    });
  }
});

describe('indexes: a build has no deadline', () => {
  after(() => cleanupTestResources(monitored));

  it('sends every createIndexes without maxTimeMS, although the connection has MONGO_QUERY_TIMEOUT_MS', async () => {
    // On MongoDB 4.4+ a createIndexes stopped at its maxTimeMS aborts the build: a 2 s deadline
    // would make an index added to a large collection fail at every start.
    // The services' connection options (MONGO_QUERY_TIMEOUT_MS as timeoutMS), commands monitored.
    const connection = await mongoose
      .createConnection(monitored.mongo.url, { ...connectionOptions(monitored), monitorCommands: true })
      .asPromise();
    const sent: Array<{ collection: string; maxTimeMS: unknown }> = [];
    try {
      connection.getClient().on('commandStarted', (e: mongo.CommandStartedEvent) => {
        if (e.commandName === 'createIndexes') {
          sent.push({ collection: String(e.command.createIndexes), maxTimeMS: e.command.maxTimeMS as unknown });
        }
      });
      const m = models(connection);
      await ensureIndexes(m, monitored.connectTimeoutMs);
      const declared = Object.values(m).reduce((n, model) => n + model.schema.indexes().length, 0);
      assert.equal(sent.length, declared, `one createIndexes per declared index: ${JSON.stringify(sent)}`);
      for (const command of sent) {
        assert.ok(
          command.maxTimeMS === undefined || command.maxTimeMS === 0,
          `createIndexes on ${command.collection} carried maxTimeMS ${String(command.maxTimeMS)}`,
        );
      }
    } finally {
      await connection.close();
    }
  });
});
