import { randomBytes, randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createLogger } from '../shared/logger.js';
import { ensureIndexes, models, type NotificationDoc } from '../shared/models/index.js';
import { loadConfig } from '../shared/config.js';
import { connectMongo } from '../shared/mongo.js';
import { loadAgedNotifications } from '../test/helpers/aged-db.js';

/**
 * What each query the services run on `notifications` costs on an aged collection, for
 * docs/persistence.md. Creates its own database on the server MONGO_URL names (read through
 * shared/config.ts like every service), loads `--docs` aged documents (default 200,000, ~1,000
 * owners) with the indexes ensureIndexes() declares, times each query for one owner (median of
 * `--runs` runs after two warm-ups) and drops the database again.
 *
 *   MONGO_URL=mongodb://127.0.0.1:27017 npx tsx scripts/store-costs.ts [--docs N] [--runs N]
 *   --explain   also prints the store's plan for each query
 *   --keep      keeps the database (its name is printed) to look at it further
 */
const { values: flags } = parseArgs({
  options: {
    docs: { type: 'string' },
    runs: { type: 'string' },
    explain: { type: 'boolean' },
    keep: { type: 'boolean' },
  },
});
const count = Number(flags.docs ?? 200_000);
const runs = Number(flags.runs ?? 20);
const explain = flags.explain === true;
const keep = flags.keep === true;
const config = loadConfig();
const log = createLogger(config, 'store-costs');

const url = new URL(config.mongo.url);
url.pathname = `/store_costs_${randomBytes(3).toString('hex')}`;
// A measurement, not a service: a query or a 200,000-document load may take longer than a
// service's deadline would allow on a busy machine.
const connection = await connectMongo(
  { ...config, mongo: { ...config.mongo, url: url.toString(), queryTimeoutMs: 60_000, batchTimeoutMs: 60_000 } },
  log,
);
const { Notification } = models(connection);

interface Row {
  query: string;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  result: string;
}

async function time(query: string, fn: () => Promise<unknown>, describe: (r: unknown) => string): Promise<Row> {
  let last: unknown;
  for (let i = 0; i < 2; i += 1) last = await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const startedAt = performance.now();
    last = await fn();
    samples.push(performance.now() - startedAt);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]! * 10) / 10;
  return { query, medianMs: at(0.5), p90Ms: at(0.9), minMs: at(0), result: describe(last) };
}

const rows = (r: unknown) => `${(r as unknown[]).length} docs`;

try {
  await ensureIndexes(models(connection));
  log.info({ db: connection.name, count }, 'loading aged notifications');
  const loaded = await loadAgedNotifications(connection, { count });
  log.info(loaded, 'loaded');

  // An owner from the middle of the range (the loader spreads count / 200 owners): ~200
  // documents, every status.
  const userId = `aged-user-${Math.floor(Math.ceil(count / 200) / 2)}`;
  const someId = (await Notification.findOne({ userId }, { _id: 1 }).lean())?._id;
  if (!someId) throw new Error(`no document for ${userId}`);
  const queries = {
    history: () => Notification.find({ userId }).sort({ createdAt: -1, _id: -1 }).limit(21),
    unreadCount: () => Notification.countDocuments({ userId, status: { $in: ['undelivered', 'delivered'] } }),
    replay: () => Notification.find({ userId, status: 'undelivered' }).sort({ priority: -1, seq: 1 }).limit(500),
    byId: () => Notification.findById(someId),
  };
  // jobs' state updates (bulkWrite updateOne by _id + status guard) and mark-read find their
  // document the same way; $set of the value it already has keeps the document unchanged.
  const updateById = () => Notification.updateOne({ _id: someId }, { $set: { version: 1 } });

  if (explain) {
    for (const [name, query] of Object.entries(queries)) {
      process.stdout.write(`--- ${name}\n${JSON.stringify(await query().explain(), null, 2)}\n`);
    }
  }

  let seq = 1_000_000;
  const batch = (): NotificationDoc[] =>
    Array.from({ length: 200 }, (_, i) => {
      const createdAt = new Date();
      seq += 1;
      return {
        _id: randomUUID(),
        userId: `store-costs-user-${i % 20}`,
        seq,
        type: 'LIKE',
        actors: ['store-costs-actor'],
        actorCount: 1,
        objectId: 'store-costs-post',
        message: 'store-costs-actor liked your post',
        priority: 5,
        status: 'undelivered',
        version: 1,
        eventIds: [randomUUID()],
        createdAt,
        deliveredAt: null,
        readAt: null,
        persistedAt: createdAt,
      };
    });

  const results: Row[] = [
    await time('history page: userId, sort createdAt -1, _id -1, limit 21', () => queries.history().lean(), rows),
    await time(
      'unread count: countDocuments userId + status $in [undelivered, delivered]',
      queries.unreadCount,
      String,
    ),
    await time(
      'replay: userId + status undelivered, sort priority -1, seq 1, limit 500',
      () => queries.replay().lean(),
      rows,
    ),
    await time(
      '_id lookup',
      () => queries.byId().lean(),
      (r) => (r ? '1 doc' : 'none'),
    ),
    await time('updateOne by _id', updateById, (r) => `${(r as { matchedCount: number }).matchedCount} matched`),
  ];
  // Built outside the timed span: only the insert is measured (unordered, as jobs writes).
  const batches = Array.from({ length: runs + 2 }, batch);
  const collection = connection.collection<NotificationDoc>('notifications');
  results.push(
    await time(
      'insertMany of 200 documents (unordered)',
      () => collection.insertMany(batches.pop()!, { ordered: false }),
      (r) => `${(r as { insertedCount: number }).insertedCount} inserted`,
    ),
  );

  // Timings on a shared machine mean little without how busy it was.
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  process.stdout.write(
    [
      `\n${count.toLocaleString('en')} aged documents loaded in ${(loaded.elapsedMs / 1000).toFixed(1)} s; user ${userId}; ${runs} runs each; load average ${load}\n`,
      '| query | median ms | p90 ms | min ms | result |',
      '|---|---:|---:|---:|---|',
      ...results.map((r) => `| ${r.query} | ${r.medianMs} | ${r.p90Ms} | ${r.minMs} | ${r.result} |`),
      '',
    ].join('\n'),
  );
} finally {
  if (keep) process.stdout.write(`kept database ${connection.name}\n`);
  else await connection.dropDatabase().catch((err: unknown) => log.warn({ err }, 'could not drop the database'));
  await connection.close();
}
