import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { mongo } from 'mongoose';
import { v7 as uuidv7 } from 'uuid';
import { bulkWrite, insertNew } from '../../jobs/bulk-write.js';
import { models } from '../../shared/models/index.js';
import { deliveredOp, insertDoc } from '../../shared/models/notification-state.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import type { Notification } from '../../shared/notification.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { ROOT } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';

const run = promisify(execFile);

/**
 * FerretDB 1.24 waits forever for a PostgreSQL connection once its pool is held by commands that
 * each wait for one more (an update keeps each matched statement's read open until the command
 * ends): the whole store stops answering until it is restarted (docs/persistence.md, "FerretDB
 * waits forever for a connection"). These tests wedge a store on purpose, so they run their own:
 * a PostgreSQL cluster and FerretDB started by scripts/services.sh on ports of their own, and a
 * second FerretDB with a tiny pool on the same cluster. The shared store is never touched.
 */
const SERVERS = {
  SERVICES_DATA_DIR: resolve(ROOT, '.data/store-wedge-test'),
  POSTGRES_PORT: '5528',
  MONGO_PORT: '27028',
};
/** The second FerretDB: 4 connections, so a command holding more than two would wedge it. */
const SMALL_POOL_PORT = 27029;
const SMALL_POOL_CONNS = 4;

const services = (command: 'up' | 'down') =>
  run('bash', [resolve(ROOT, 'scripts/services.sh'), command, 'postgres', 'ferretdb'], {
    env: { ...process.env, ...SERVERS },
    timeout: 120_000,
  });

/** A fresh client's count, with a short deadline: does the store still answer at all? */
async function answers(port: number): Promise<boolean> {
  const probe = new mongo.MongoClient(`mongodb://127.0.0.1:${port}/`, {
    timeoutMS: 5000,
    serverSelectionTimeoutMS: 5000,
  });
  try {
    await probe.db('wedge_probe').collection('docs').countDocuments({});
    return true;
  } catch {
    return false;
  } finally {
    await probe.close(true).catch(() => undefined);
  }
}

function notification(userId: string, i: number): Notification {
  return {
    id: uuidv7(),
    userId,
    seq: i + 1,
    type: 'LIKE',
    priority: 5,
    actors: ['actor1'],
    actorCount: 1,
    objectId: `post${i}`,
    message: 'actor1 liked your post',
    createdAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    version: 1,
    eventIds: [uuidv7()],
  };
}

describe('FerretDB under write shapes that used to wedge it (its own store, never the shared one)', () => {
  let smallPool: ChildProcess | undefined;
  let connection: Connection | undefined;

  before(async () => {
    await services('down');
    for (const dir of ['ferretdb', 'postgres', 'postgres.initdb'])
      await rm(resolve(SERVERS.SERVICES_DATA_DIR, dir), { recursive: true, force: true });
    await services('up');
    // The binary services.sh chose, read from the command line of the FerretDB it started.
    const pid = (await readFile(resolve(SERVERS.SERVICES_DATA_DIR, 'pids/ferretdb.pid'), 'utf8')).trim();
    const bin = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0]!;
    smallPool = spawn(
      bin,
      [
        '--handler=postgresql',
        `--postgresql-url=postgres://postgres@127.0.0.1:${SERVERS.POSTGRES_PORT}/ferretdb?pool_max_conns=${SMALL_POOL_CONNS}`,
        `--listen-addr=127.0.0.1:${SMALL_POOL_PORT}`,
        `--state-dir=${SERVERS.SERVICES_DATA_DIR}/ferretdb`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=error',
      ],
      { stdio: 'ignore' },
    );
    await eventually(() => answers(SMALL_POOL_PORT), { what: 'the small-pool FerretDB to answer', timeoutMs: 30_000 });
  });

  after(async () => {
    await connection?.close(true).catch(() => undefined);
    smallPool?.kill('SIGKILL');
    await services('down');
    await rm(SERVERS.SERVICES_DATA_DIR, { recursive: true, force: true });
  });

  it("scripts/services.sh's FerretDB survives one update command of 90 matched updateOne statements", async () => {
    const client = new mongo.MongoClient(`mongodb://127.0.0.1:${SERVERS.MONGO_PORT}/`, { timeoutMS: 30_000 });
    try {
      const docs = client.db('wedge_bulk').collection<{ _id: string; status: string }>('docs');
      await docs.insertMany(Array.from({ length: 90 }, (_, i) => ({ _id: `d${i}`, status: 'undelivered' })));
      // FerretDB's default pool (50 connections) waited for its 51st forever here.
      const result = await docs.bulkWrite(
        Array.from({ length: 90 }, (_, i) => ({
          updateOne: { filter: { _id: `d${i}`, status: 'undelivered' }, update: { $set: { status: 'delivered' } } },
        })),
        { ordered: true },
      );
      assert.equal(result.modifiedCount, 90);
      assert.equal(await docs.countDocuments({ status: 'delivered' }), 90);
    } finally {
      await client.close(true);
    }
    assert.ok(await answers(Number(SERVERS.MONGO_PORT)), 'the store answers a fresh client afterwards');
  });

  it("jobs' state updates hold at most two of FerretDB's connections per command", async () => {
    const { config } = testEnv('storewedge', {
      MONGO_URL: `mongodb://127.0.0.1:${SMALL_POOL_PORT}/wedge_jobs`,
      MONGO_BATCH_TIMEOUT_MS: '20000',
    });
    connection = await connectMongo(config, testLogger);
    const { Notification } = models(connection);
    const stored = Array.from({ length: 60 }, (_, i) => notification('wedge-user', i));
    const now = new Date();
    const inserted = await insertNew(
      Notification,
      stored.map((n) => insertDoc(n, { ackedAtMs: null, readAtMs: null }, now)),
      20_000,
    );
    assert.equal(inserted.inserted.size, 60);

    // 60 matched statements in one command, against a pool of 4: an updateOne per statement
    // would hold 60 connections by the end of the command.
    const outcome = await bulkWrite(
      Notification,
      stored.map((n) => deliveredOp(n.id, now, n.userId)),
      90,
      20_000,
    );
    assert.equal(outcome.commands, 1);
    assert.equal(outcome.modified, 60);
    assert.equal(await Notification.countDocuments({ userId: 'wedge-user', status: 'delivered' }), 60);
    assert.ok(await answers(SMALL_POOL_PORT), 'the small-pool store answers a fresh client afterwards');
  });
});
