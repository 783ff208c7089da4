import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { createHttpClient, HttpClientError, type HttpClient } from '../../client/index.js';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { models, type Models, type NotificationStatus } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('clienthttp');

describe('client: createHttpClient against the real producer', () => {
  let producer: ProducerService;
  let mongo: Connection;
  let m: Models;
  let base: string;
  let seq = 0;
  const token = (userId: string) => signUserToken(userId, config.auth.jwtSecret);
  const http = (userId: string): HttpClient => createHttpClient({ baseUrl: `${base}/`, getToken: () => token(userId) });
  const store = async (userId: string, status: NotificationStatus) => {
    const id = uuidv7();
    await m.Notification.create({
      _id: id,
      userId,
      seq: (seq += 1),
      type: 'LIKE',
      priority: 5,
      actors: ['a'],
      actorCount: 1,
      objectId: 'post1',
      message: 'a liked your post',
      status,
      version: 1,
      eventIds: [],
      createdAt: new Date(Date.UTC(2026, 0, 1) + seq * 1000),
      deliveredAt: null,
      readAt: status === 'read' ? new Date() : null,
      persistedAt: new Date(),
    });
    return id;
  };

  before(async () => {
    producer = await bootstrap(config, testLogger);
    base = `http://127.0.0.1:${producer.port}`;
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
  });
  after(async () => {
    await producer.close();
    await mongo.close();
    await cleanupTestResources(config);
  });

  it('pages the history with cursors, filters unread, counts, marks one and then all read', async () => {
    const user = 'inbox';
    const api = http(user);
    const statuses: NotificationStatus[] = ['undelivered', 'delivered', 'read'];
    const stored = [];
    for (let i = 0; i < 12; i++) stored.push(await store(user, statuses[i % 3]!));

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await api.history(user, { limit: 5, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((n) => n.id));
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...stored].reverse(), 'newest first, each once');

    const unread = await api.history(user, { unread: true, limit: 100 });
    assert.equal(unread.items.length, 8);
    assert.ok(unread.items.every((n) => n.status !== 'read'));
    assert.equal((await api.history(user, { status: 'read', limit: 100 })).items.length, 4);

    const before = await api.unreadCount(user);
    assert.equal(before.unread, 8);
    const target = unread.items[0]!;
    const read = await api.markRead(user, target.id);
    assert.equal(read.id, target.id);
    assert.equal(read.status, 'read');
    const after1 = await api.unreadCount(user);
    assert.equal(after1.unread, 7);
    assert.ok(after1.version > before.version, 'the count moved on to a newer version');
    assert.deepEqual(await api.markAllRead(user), { userId: user, marked: 7 });
    assert.equal((await api.unreadCount(user)).unread, 0);
    const timeline = await api.timeline(target.id);
    assert.ok(timeline.stages.read, 'the read stage is recorded');
  });

  it('reads and replaces preferences', async () => {
    const user = 'prefs';
    const api = http(user);
    assert.deepEqual(await api.getPreferences(user), { mutedTypes: [], promotionalOptOut: false, doNotDisturb: null });
    const wanted = {
      mutedTypes: ['FOLLOW'],
      promotionalOptOut: true,
      doNotDisturb: { start: '22:00', end: '07:00', timeZone: 'Europe/Paris' },
    };
    assert.deepEqual(await api.putPreferences(user, wanted), wanted);
    assert.deepEqual(await api.getPreferences(user), wanted);
  });

  it('throws HttpClientError with the status, the stable code and the message', async () => {
    const owner = 'owner';
    const id = await store(owner, 'delivered');
    const expectError = async (call: Promise<unknown>, status: number, code: string) => {
      const err = await call.then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof HttpClientError, String(err));
      assert.equal(err.status, status);
      assert.equal(err.code, code);
      assert.ok(err.message.length > 0);
      return err;
    };
    await expectError(http('intruder').history(owner), 403, 'forbidden');
    await expectError(http('intruder').markRead('intruder', id), 404, 'not_found');
    await expectError(createHttpClient({ baseUrl: base }).unreadCount(owner), 401, 'unauthorized');
    const invalid = await expectError(http(owner).history(owner, { limit: 0 }), 400, 'validation_failed');
    assert.deepEqual(
      invalid.body?.details?.map((d) => d.field),
      ['limit'],
    );
    await expectError(http(owner).putPreferences(owner, { mutedTypes: ['SECURITY'] }), 400, 'validation_failed');
    await expectError(
      createHttpClient({ baseUrl: 'http://127.0.0.1:1', token: 'x' }).unreadCount(owner),
      0,
      'network_error',
    );
  });
});
