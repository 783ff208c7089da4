import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap as bootstrapConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { bootstrap as bootstrapJobs, type JobsService } from '../../jobs/bootstrap.js';
import { bootstrap as bootstrapProducer, type ProducerService } from '../../producer/bootstrap.js';
import { bootstrap as bootstrapWs, type WsServerService } from '../../ws-server/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { runAll } from '../../shared/lifecycle.js';
import { ensureIndexes, models, type NotificationDoc } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import { AppClient } from '../helpers/app-client.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { intakeAuthorization } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';

/**
 * Two of every service that scales out (issue #17): 2 consumers and 2 jobs compete on one set of
 * queues, 2 ws-servers each hold half the users, under a steady load of events from the
 * producer's HTTP intake and apps that ACK everything. Every event becomes exactly one
 * notification, buffered once, stored once, delivered once per socket, and each ws-server
 * hears only its own users' wakes.
 */
const { config } = testEnv('scaleout', {
  // No redelivery timer: every NOTIFICATION frame counted is a push or a replay.
  ACK_TIMEOUT_MS: '600000',
  // Small prefetches and persist messages, so both instances of each service get a share.
  CONSUMER_PREFETCH: '20',
  PERSIST_HANDOFF_MAX_NOTIFICATIONS: '10',
  PERSIST_PREFETCH: '10',
  PERSIST_DELAY_MS: '300',
  PERSIST_FLUSH_MS: '100',
});

const USERS = 16;
const PER_USER = 60;
const BATCH = 80;

async function metric(port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`).exec(line);
    if (match && (match[1] ?? '').includes(labels)) sum += Number(match[2]);
  }
  return sum;
}

describe('scale-out: two consumers, two jobs and two ws-servers on one queue set', () => {
  let producer: ProducerService;
  let consumers: ConsumerService[];
  let jobs: JobsService[];
  let ws: WsServerService[];
  const apps: AppClient[] = [];
  let stored: ReturnType<typeof models>;
  let closeMongo: () => Promise<unknown> = async () => undefined;

  before(async () => {
    const connection = await connectMongo(config, testLogger);
    closeMongo = () => connection.close();
    stored = models(connection);
    await ensureIndexes(stored);
    jobs = [await bootstrapJobs(config, testLogger), await bootstrapJobs(config, testLogger)];
    consumers = [await bootstrapConsumer(config, testLogger), await bootstrapConsumer(config, testLogger)];
    ws = [await bootstrapWs(config, testLogger), await bootstrapWs(config, testLogger)];
    producer = await bootstrapProducer(config, testLogger);
  });
  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await runAll([
      () => producer.close(),
      ...ws.map((s) => () => s.close()),
      ...consumers.map((c) => () => c.close()),
      ...jobs.map((j) => () => j.close()),
    ]);
    await closeMongo();
    await cleanupTestResources(config);
  });

  it('every event is processed once, stored once, delivered once per socket (ACKed), and each ws-server hears only its own users', async (t) => {
    const users = Array.from({ length: USERS }, (_, i) => `scale-user-${i}`);
    const homeOf = (i: number) => ws[i % 2]!;
    for (const [i, userId] of users.entries()) {
      const app = await AppClient.open(homeOf(i).port, { token: await signUserToken(userId, config.auth.jwtSecret) });
      app.client.on('notification', (n) => app.client.ack(n.id));
      apps.push(app);
    }

    // The load: batches of events round-robin over the users, 2 requests in flight.
    const events = users.flatMap((targetId) =>
      Array.from({ length: PER_USER }, (_, k) => ({
        type: 'ORDER',
        targetId,
        orderId: `o-${targetId}-${k}`,
        text: `step ${k}`,
      })),
    );
    const accepted: string[] = [];
    const send = async (chunk: typeof events) => {
      const res = await fetch(`http://127.0.0.1:${producer.port}/events/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...intakeAuthorization(config) },
        body: JSON.stringify({ events: chunk }),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { accepted: number; results: Array<{ eventId: string }> };
      assert.equal(body.accepted, chunk.length);
      accepted.push(...body.results.map((r) => r.eventId));
    };
    const interleaved = events.map((_, i) => events[(i % USERS) * PER_USER + Math.floor(i / USERS)]!);
    for (let i = 0; i < interleaved.length; i += 2 * BATCH) {
      await Promise.all([send(interleaved.slice(i, i + BATCH)), send(interleaved.slice(i + BATCH, i + 2 * BATCH))]);
    }
    const total = USERS * PER_USER;
    assert.equal(new Set(accepted).size, total);

    // Delivered: every socket gets each of its user's notifications, in one frame each.
    for (const [i, app] of apps.entries()) {
      await eventually(
        () => new Set(app.of('NOTIFICATION').map((f) => f.notification.id)).size === PER_USER || undefined,
        {
          what: `${users[i]}'s ${PER_USER} notifications`,
          timeoutMs: 120_000,
        },
      );
    }

    // Stored: one document per event, each event in exactly one, all delivered (the ACKs landed).
    const docs = await eventually(
      async () => {
        const found = await stored.Notification.find({ userId: { $in: users } }).lean<NotificationDoc[]>();
        return found.length === total && found.every((d) => d.status === 'delivered') ? found : undefined;
      },
      { what: 'every notification stored as delivered', timeoutMs: 120_000 },
    );
    const eventIds = docs.flatMap((d) => d.eventIds);
    assert.equal(eventIds.length, total, 'one event per notification');
    assert.deepEqual(new Set(eventIds), new Set(accepted), 'every accepted event, once');

    for (const [i, app] of apps.entries()) {
      const frames = app.of('NOTIFICATION');
      assert.equal(frames.length, PER_USER, `${users[i]}: no notification sent twice on its socket`);
      const mine = new Set(docs.filter((d) => d.userId === users[i]).map((d) => d._id));
      assert.ok(
        frames.every((f) => mine.has(f.notification.id)),
        `${users[i]}: only its own notifications`,
      );
    }

    // Both of each did a share, and together exactly the whole.
    const buffered = await Promise.all(
      consumers.map((c) => metric(c.port, 'consumer_events_processed_total', 'outcome="buffered"')),
    );
    assert.ok(
      buffered.every((n) => n > 0),
      `both consumers buffered events: ${buffered.join(', ')}`,
    );
    assert.equal(buffered[0]! + buffered[1]!, total, 'each event buffered by one consumer, once');
    const persisted = await Promise.all(jobs.map((j) => metric(j.port, 'jobs_notifications_persisted_total')));
    assert.ok(
      persisted.every((n) => n > 0),
      `both jobs stored notifications: ${persisted.join(', ')}`,
    );
    assert.equal(persisted[0]! + persisted[1]!, total, 'each notification inserted by one jobs process, once');
    const handled = await Promise.all(ws.map((s) => metric(s.port, 'ws_wakes_received_total', 'outcome="handled"')));
    const dropped = await Promise.all(ws.map((s) => metric(s.port, 'ws_wakes_received_total', 'outcome="dropped"')));
    assert.deepEqual(handled, [total / 2, total / 2], "each ws-server heard its own users' wakes only");
    assert.deepEqual(dropped, [0, 0]);
    t.diagnostic(
      `shares: consumers ${buffered.join('/')}, jobs ${persisted.join('/')}, ws-servers ${handled.join('/')} of ${total}`,
    );
  });
});
