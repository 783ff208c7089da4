import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { mongo } from 'mongoose';
import { loadConfig } from '../shared/config.js';

/**
 * Does the store survive the write shapes that wedged FerretDB 1.24? (docs/persistence.md,
 * "FerretDB waits forever for a connection".) Each shape runs against its own database on the
 * server MONGO_URL names (read through shared/config.ts), then a fresh client counts documents
 * with a 5 s deadline: a store that does not answer it is reported WEDGED and the script exits 1.
 *
 *   bulk-one    one bulk write of --ops matching updateOne statements (jobs' old shape)
 *   bulk-many   the same statements as updateMany (jobs' shape, jobs/bulk-write.ts)
 *   concurrent  --clients connections, each sending --rounds single updateOne statements at once
 *   inserts     --clients connections sending insertMany batches of --ops documents, half of
 *               them already stored (replays), with a --timeout-ms client deadline that makes
 *               the driver close sockets mid-command, as jobs does under load
 *
 * A wedged FerretDB stays wedged until it is restarted: point this at a store of your own, e.g.
 *   SERVICES_DATA_DIR=$PWD/.data/wedge POSTGRES_PORT=5528 MONGO_PORT=27028 bash scripts/services.sh up postgres ferretdb
 *   MONGO_URL=mongodb://127.0.0.1:27028 npx tsx scripts/store-wedge.ts [shape ...]
 * The shared store on 27017 is refused unless --shared is given.
 */
const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    ops: { type: 'string' },
    clients: { type: 'string' },
    rounds: { type: 'string' },
    'timeout-ms': { type: 'string' },
    shared: { type: 'boolean' },
  },
});
const SHAPES = ['bulk-one', 'bulk-many', 'concurrent', 'inserts'] as const;
type Shape = (typeof SHAPES)[number];
const shapes = (positionals.length > 0 ? positionals : [...SHAPES]) as Shape[];
for (const s of shapes) if (!SHAPES.includes(s)) throw new Error(`unknown shape ${s} (expected: ${SHAPES.join(', ')})`);
const ops = Number(flags.ops ?? 90);
const clients = Number(flags.clients ?? 200);
const rounds = Number(flags.rounds ?? 10);
const timeoutMs = Number(flags['timeout-ms'] ?? 2000);

const config = loadConfig();
const base = new URL(config.mongo.url);
if ((base.port || '27017') === '27017' && flags.shared !== true) {
  throw new Error(
    'MONGO_URL is the shared store (port 27017); a wedge would stop it for everyone. Use a store of your own, or --shared.',
  );
}

interface Doc {
  _id: string;
  status: string;
  n: number;
}

function client(maxPoolSize: number, deadlineMs: number): mongo.MongoClient {
  return new mongo.MongoClient(base.toString(), { timeoutMS: deadlineMs, maxPoolSize, serverSelectionTimeoutMS: 5000 });
}

/** Runs fn, counting outcomes by error text (digits folded, so timings do not split them). */
async function tally(fns: Array<() => Promise<unknown>>): Promise<{ ok: number; errors: Record<string, number> }> {
  let ok = 0;
  const errors: Record<string, number> = {};
  await Promise.all(
    fns.map(async (fn) => {
      try {
        await fn();
        ok += 1;
      } catch (err) {
        const text = (err instanceof Error ? err.message : String(err)).replace(/\d+/g, 'N').slice(0, 100);
        errors[text] = (errors[text] ?? 0) + 1;
      }
    }),
  );
  return { ok, errors };
}

async function answers(db: string): Promise<boolean> {
  const probe = client(1, 5000);
  try {
    await probe.db(db).collection('docs').countDocuments({ status: 'delivered' });
    return true;
  } catch {
    return false;
  } finally {
    await probe.close(true).catch(() => undefined);
  }
}

async function run(shape: Shape): Promise<boolean> {
  const db = `store_wedge_${randomBytes(3).toString('hex')}`;
  const setup = client(4, 60_000);
  const docs = setup.db(db).collection<Doc>('docs');
  const seeded = shape === 'concurrent' ? clients : ops;
  await docs.insertMany(Array.from({ length: seeded }, (_, i) => ({ _id: `d${i}`, status: 'undelivered', n: 0 })));
  const startedAt = performance.now();
  let outcome: { ok: number; errors: Record<string, number> };
  const load = client(shape === 'bulk-one' || shape === 'bulk-many' ? 1 : clients, timeoutMs);
  const coll = load.db(db).collection<Doc>('docs');
  if (shape === 'bulk-one' || shape === 'bulk-many') {
    const verb = shape === 'bulk-one' ? 'updateOne' : 'updateMany';
    const statements = Array.from({ length: ops }, (_, i) => ({
      [verb]: { filter: { _id: `d${i}`, status: 'undelivered' }, update: { $set: { status: 'delivered' } } },
    }));
    outcome = await tally([() => coll.bulkWrite(statements as mongo.AnyBulkWriteOperation<Doc>[], { ordered: true })]);
  } else if (shape === 'concurrent') {
    outcome = await tally(
      Array.from({ length: clients }, (_, i) => async () => {
        for (let r = 0; r < rounds; r += 1) await coll.updateOne({ _id: `d${i}` }, { $inc: { n: 1 } });
      }),
    );
  } else {
    let next = seeded;
    outcome = await tally(
      Array.from({ length: clients }, () => async () => {
        for (let r = 0; r < rounds; r += 1) {
          // Half replays of stored documents (duplicate _id: FerretDB then inserts one by one),
          // half new ones, unordered, as jobs' insert does.
          const batch = Array.from({ length: ops }, (_, i) =>
            i % 2 === 0
              ? { _id: `d${(r * ops + i) % seeded}`, status: 'undelivered', n: 0 }
              : { _id: `n${(next += 1)}`, status: 'undelivered', n: 0 },
          );
          await coll.insertMany(batch, { ordered: false }).catch((err: unknown) => {
            if (err instanceof mongo.MongoBulkWriteError && [err.writeErrors].flat().every((e) => e.code === 11000))
              return;
            throw err;
          });
        }
      }),
    );
  }
  const ms = Math.round(performance.now() - startedAt);
  await load.close(true).catch(() => undefined);
  // Commands the driver gave up on may still run in the store: give them a moment to finish.
  await new Promise((r) => setTimeout(r, 2000));
  const alive = await answers(db);
  process.stdout.write(
    `${JSON.stringify({ shape, ops, clients, rounds, timeoutMs, ms, ...outcome, store: alive ? 'answering' : 'WEDGED' })}\n`,
  );
  if (alive)
    await setup
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
  else
    process.stdout.write(
      `database ${db} left in place; restart the store (bash scripts/services.sh down ferretdb && bash scripts/services.sh up)\n`,
    );
  await setup.close(true).catch(() => undefined);
  return alive;
}

let wedged = false;
for (const shape of shapes) {
  if (!(await run(shape))) {
    wedged = true;
    break;
  }
}
process.exitCode = wedged ? 1 : 0;
