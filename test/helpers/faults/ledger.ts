import { readPending } from '../buffer.js';
import { keys } from '../../../shared/keys.js';
import type { Models } from '../../../shared/models/index.js';
import type { Redis } from '../../../shared/redis.js';
import type { ClientRecord } from './clients.js';
import type { PostedEvent } from './load.js';

/** One line of the per-scenario table. */
export interface ScenarioRow {
  scenario: string;
  accepted: number;
  delivered: number;
  /** Same objectId delivered under two different notification ids: one event, two notifications. */
  duplicateNotifications: number;
  duplicatesAfterAck: number;
  /** NOTIFICATION frames that came again before their ACKED (at-least-once: allowed, reported; the client shows them once). */
  redeliveries: number;
  persisted: number;
  persistedTwice: number;
  /** Acked by the client, but MongoDB does not say delivered. */
  wrongState: number;
  /** Not delivered, but still pending (in the user's Redis inbox or undelivered in MongoDB): kept, not lost. */
  pending: number;
  lost: number;
  retriedPosts: number;
  /**
   * Notifications the persist sweep (jobs/persist-sweep.ts) handed to jobs again during the
   * scenario: their persist job was lost or late past PERSIST_SWEEP_AFTER_MS, or a Redis failover
   * brought back marks jobs had cleared. Reported, not a failure: the sweep is how the pipeline
   * stores them; runScenario adds a note under the table when it is not 0.
   */
  swept?: number;
  /** The scenario needed a forced reconnect of every client to deliver the rest. */
  neededReconnect: boolean;
  problems: string[];
  /** What the fault did (which node, how long the takeover took), printed under the table. */
  note?: string;
}

interface StoredDoc {
  _id: string;
  userId: string;
  status: string;
  eventIds: string[];
}

/**
 * Every stored notification of these users, by user: one `userId` equality query per user (an
 * indexed read on FerretDB too), a few at a time. Not one `$in` over eventIds or ids: FerretDB
 * answers `$in` by scanning the whole collection, and at this suite's volume those scans took
 * minutes and loaded the store under test.
 */
async function storedForUsers(models: Models, userIds: string[]): Promise<StoredDoc[]> {
  const users = [...new Set(userIds)];
  const docs: StoredDoc[] = [];
  let next = 0;
  const lane = async () => {
    while (next < users.length) {
      const userId = users[next++]!;
      docs.push(
        ...(await models.Notification.find({ userId }, { userId: 1, status: 1, eventIds: 1 }).lean<StoredDoc[]>()),
      );
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return docs;
}

async function storedByEvent(models: Models, accepted: PostedEvent[]): Promise<Map<string, StoredDoc[]>> {
  const wanted = new Set(accepted.map((e) => e.eventId));
  const byEvent = new Map<string, StoredDoc[]>();
  for (const d of await storedForUsers(
    models,
    accepted.map((e) => e.targetId),
  )) {
    for (const e of d.eventIds) if (wanted.has(e)) byEvent.set(e, [...(byEvent.get(e) ?? []), d]);
  }
  return byEvent;
}

/**
 * Checks what the driver saw against what it was promised: every accepted event became one
 * notification that reached its user (or is still pending for them), nothing was shown again
 * after its ACKED, and MongoDB holds each notification exactly once in its final state.
 */
export async function reconcile(
  scenario: string,
  runId: string,
  accepted: PostedEvent[],
  records: ClientRecord[],
  models: Models,
  redis: Redis,
): Promise<Omit<ScenarioRow, 'retriedPosts' | 'neededReconnect'>> {
  const byUser = new Map(records.map((r) => [r.userId, r]));
  const stored = await storedByEvent(models, accepted);
  const row = {
    scenario,
    accepted: accepted.length,
    delivered: 0,
    duplicateNotifications: 0,
    duplicatesAfterAck: 0,
    redeliveries: 0,
    persisted: 0,
    persistedTwice: 0,
    wrongState: 0,
    pending: 0,
    lost: 0,
    problems: [] as string[],
  };
  const unstored: PostedEvent[] = [];
  for (const event of accepted) {
    const record = byUser.get(event.targetId);
    const ids = record
      ? [...record.received].filter(([, objectId]) => objectId === event.objectId).map(([id]) => id)
      : [];
    const docs = stored.get(event.eventId) ?? [];
    if (docs.length === 1) row.persisted++;
    if (docs.length === 0 && unstored.length < 10) unstored.push(event);
    if (docs.length > 1) {
      row.persistedTwice++;
      row.problems.push(`${event.eventId} stored ${docs.length} times`);
    }
    if (ids.length > 1) {
      row.duplicateNotifications++;
      row.problems.push(`${event.eventId} became ${ids.length} notifications`);
    }
    const id = ids[0];
    if (id !== undefined) {
      row.delivered++;
      const doc = docs.find((d) => d._id === id);
      if (record?.acked.has(id) && doc && doc.status === 'undelivered') {
        row.wrongState++;
        row.problems.push(`${event.eventId} acked but stored as ${doc.status}`);
      }
    } else if (
      docs.some((d) => d.status === 'undelivered' && d.userId === event.targetId) ||
      (await readPending(redis, event.targetId, 10_000)).notifications.some((n) => n.objectId === event.objectId)
    ) {
      row.pending++;
    } else {
      row.lost++;
      row.problems.push(`${event.eventId} for ${event.targetId} lost (attempts ${event.attempts})`);
    }
  }
  // What Redis still holds of a notification MongoDB never got tells where its hand-off stopped:
  // an `unpersisted` mark still set means no persist job carrying it was ever stored.
  for (const event of unstored) {
    const id = [...(byUser.get(event.targetId)?.received ?? [])].find(([, o]) => o === event.objectId)?.[0];
    const marks =
      id === undefined
        ? 'never delivered'
        : `notification ${id}, unpersisted mark ${(await redis.exists(keys.unpersisted(event.targetId, id))) === 1 ? 'set' : 'gone'}`;
    row.problems.push(`${event.eventId} for ${event.targetId} not stored (${marks}; attempts ${event.attempts})`);
  }
  const ofRun = (r: ClientRecord, id: string) => r.received.get(id)?.includes(`.${runId}.`) === true;
  for (const r of records) {
    row.redeliveries += r.redelivered.filter((id) => ofRun(r, id)).length;
    const mine = r.duplicatesAfterAck.filter((id) => ofRun(r, id));
    row.duplicatesAfterAck += mine.length;
    for (const id of mine.slice(0, 5)) row.problems.push(`${id} shown to ${r.userId} again after ACKED`);
  }
  return row;
}

/**
 * Everything accepted is delivered, and stored as delivered: the pipeline has settled. Looked
 * up by notification id (the primary key): FerretDB scans for an `eventIds` `$in`, and polling
 * with that would slow the very pipeline under test.
 */
export async function settled(accepted: PostedEvent[], records: ClientRecord[], models: Models): Promise<boolean> {
  const byUser = new Map(
    records.map((r) => [r.userId, new Map([...r.received].map(([id, objectId]) => [objectId, id]))]),
  );
  const ids = accepted.map((e) => byUser.get(e.targetId)?.get(e.objectId));
  if (ids.some((id) => id === undefined)) return false;
  const delivered = new Set(
    (
      await storedForUsers(
        models,
        accepted.map((e) => e.targetId),
      )
    )
      .filter((d) => d.status !== 'undelivered')
      .map((d) => d._id),
  );
  return ids.every((id) => delivered.has(id!));
}

export function printTable(rows: ScenarioRow[]): string {
  const cols: (keyof ScenarioRow)[] = [
    'scenario',
    'accepted',
    'delivered',
    'duplicatesAfterAck',
    'redeliveries',
    'duplicateNotifications',
    'persisted',
    'persistedTwice',
    'wrongState',
    'pending',
    'lost',
    'retriedPosts',
    'swept',
    'neededReconnect',
  ];
  const cells = [cols.map(String), ...rows.map((r) => cols.map((c) => String(r[c] ?? '-')))];
  const widths = cols.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  const notes = rows.flatMap((r) => (r.note ? [`  ${r.scenario}: ${r.note}`] : []));
  return [...cells.map((line) => line.map((c, i) => c.padEnd(widths[i]!)).join(' | ')), ...notes].join('\n');
}
