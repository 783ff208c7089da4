import { mongo, type FilterQuery, type Model, type UpdateQuery } from 'mongoose';
import type { NotificationDoc } from '../shared/models/index.js';

export interface BulkOutcome {
  /** Ids of the documents the upserts inserted (not the ones that already existed). */
  inserted: Set<string>;
  modified: number;
  /** bulkWrite commands sent: what `jobs_mongo_bulk_writes_total` counts. */
  commands: number;
}

/** A state update of one document: its filter names the `_id` (shared/models/notification-state.ts). */
export interface DocUpdate {
  filter: FilterQuery<NotificationDoc> & { _id: string };
  update: UpdateQuery<NotificationDoc>;
}

/**
 * One logical bulk write of single-document updates, sent as ordered commands of at most
 * `maxOps` statements each (PERSIST_BULK_MAX_OPS). Each command has `timeoutMs`
 * (MONGO_BATCH_TIMEOUT_MS) instead of the single-query deadline.
 *
 * Every statement is sent as `updateMany`, not `updateOne`: the filter names the `_id`, so it
 * changes at most the one document `updateOne` would, and costs MongoDB the same `_id` lookup.
 * The difference is FerretDB 1.24's: for an `updateOne` it keeps the statement's read, and its
 * PostgreSQL connection, open until the whole command ends, so a command of n matching
 * statements holds n connections at once, and once its pool is spent it waits for one more
 * forever, taking the whole store down with it (docs/persistence.md, "FerretDB waits forever
 * for a connection"). An `updateMany` reads to the end before the next statement, so any command
 * holds at most two. (A multi-document statement is not a retryable write on MongoDB; the batch's
 * own retry covers that, and every update is guarded by the state it leaves.)
 */
export async function bulkWrite(
  model: Model<NotificationDoc>,
  updates: DocUpdate[],
  maxOps: number,
  timeoutMs: number,
): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { inserted: new Set(), modified: 0, commands: 0 };
  for (let start = 0; start < updates.length; start += maxOps) {
    const ops = updates.slice(start, start + maxOps).map((updateMany) => ({ updateMany }));
    const result = await model.bulkWrite(ops, { ordered: true, timeoutMS: timeoutMs });
    outcome.commands += 1;
    outcome.modified += result.modifiedCount;
    for (const id of Object.values(result.upsertedIds)) outcome.inserted.add(String(id));
  }
  return outcome;
}

const DUPLICATE_KEY = 11000;

/**
 * Inserts documents that may already exist (a replayed batch), in one unordered command:
 * a duplicate _id only means "stored before", any other write error fails the whole call.
 * Resolves with the ids this call inserted.
 */
export async function insertNew(
  model: Model<NotificationDoc>,
  docs: NotificationDoc[],
  timeoutMs: number,
): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { inserted: new Set(), modified: 0, commands: 0 };
  if (docs.length === 0) return outcome;
  let duplicates = new Set<number>();
  try {
    // The driver's collection: the documents are complete and typed already, and mongoose would
    // build and cast a Document for each one (its largest CPU cost in jobs, docs/performance.md).
    const collection = model.db
      .getClient()
      .db(model.db.name)
      .collection<NotificationDoc>(model.collection.collectionName);
    await collection.insertMany(docs, { ordered: false, timeoutMS: timeoutMs });
  } catch (err) {
    if (!(err instanceof mongo.MongoBulkWriteError)) throw err;
    // A MongoBulkWriteError also reports failures of the whole command (a refused connection,
    // a timeout) with no write errors at all: only a list made of duplicates alone is success.
    const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    if (writeErrors.length === 0 || writeErrors.some((e) => e.code !== DUPLICATE_KEY) || err.writeConcernError)
      throw err;
    duplicates = new Set(writeErrors.map((e) => e.index));
  }
  outcome.commands = 1;
  docs.forEach((doc, i) => {
    if (!duplicates.has(i)) outcome.inserted.add(doc._id);
  });
  return outcome;
}
