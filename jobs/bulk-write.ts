import type { AnyBulkWriteOperation, Model } from 'mongoose';
import type { NotificationDoc } from '../shared/models/index.js';

export interface BulkOutcome {
  /** Ids of the documents the upserts inserted (not the ones that already existed). */
  inserted: Set<string>;
  modified: number;
  /** bulkWrite commands sent: what `jobs_mongo_bulk_writes_total` counts. */
  commands: number;
}

/**
 * One logical bulk write, sent as ordered commands of at most `maxOps` operations each
 * (PERSIST_BULK_MAX_OPS): MongoDB takes any size, FerretDB stalls on update commands of 100+.
 */
export async function bulkWrite(
  model: Model<NotificationDoc>,
  ops: AnyBulkWriteOperation<NotificationDoc>[],
  maxOps: number,
): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { inserted: new Set(), modified: 0, commands: 0 };
  for (let start = 0; start < ops.length; start += maxOps) {
    const result = await model.bulkWrite(ops.slice(start, start + maxOps), { ordered: true });
    outcome.commands += 1;
    outcome.modified += result.modifiedCount;
    for (const id of Object.values(result.upsertedIds)) outcome.inserted.add(String(id));
  }
  return outcome;
}
