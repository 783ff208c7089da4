import type { Connection, mongo } from 'mongoose';
import { DependencyUnavailableError } from '../errors.js';
import { followModel } from './follow.js';
import { notificationModel } from './notification.js';
import { postModel } from './post.js';
import { preferenceModel } from './preference.js';
import { userModel } from './user.js';

export * from './follow.js';
export * from './notification.js';
export * from './post.js';
export * from './preference.js';
export * from './user.js';

export function models(connection: Connection) {
  return {
    Notification: notificationModel(connection),
    User: userModel(connection),
    Post: postModel(connection),
    Follow: followModel(connection),
    Preference: preferenceModel(connection),
  };
}
export type Models = ReturnType<typeof models>;

/**
 * Creates the collections and the declared indexes (autoIndex is off). createIndexes, not
 * syncIndexes: it never drops an index another version of the service still relies on during a
 * rolling deploy. Run in the background by the services (shared/index-build.ts), awaited by tools.
 *
 * A collection's creation is quick and gets `createTimeoutMs` (start-up's CONNECT_TIMEOUT_MS)
 * rather than a query's deadline. An index build gets none at all: on MongoDB 4.4+ a
 * createIndexes stopped at its maxTimeMS aborts the build, so the connection's
 * MONGO_QUERY_TIMEOUT_MS would make an index added to a large collection fail at every start,
 * forever. The native driver's createIndexes is called with `timeoutMS: 0` (no deadline, no
 * maxTimeMS sent): mongoose's Model.createIndexes does not pass a timeoutMS on, so the
 * connection's would apply.
 */
export async function ensureIndexes(m: Models, createTimeoutMs?: number): Promise<void> {
  await Promise.all(
    Object.values(m).map(async (model) => {
      const db = model.db.db;
      if (db === undefined) throw new DependencyUnavailableError('mongodb unavailable: not connected yet');
      const name = model.collection.collectionName;
      // Every collection exists from start-up on (shared/mongo.ts sets autoCreate off). The
      // native call, as the schemas set no collection options (capped, collation, ...).
      await db
        .createCollection(name, createTimeoutMs === undefined ? {} : { timeoutMS: createTimeoutMs })
        .catch((err: unknown) => {
          if ((err as { code?: unknown }).code !== NAMESPACE_EXISTS) throw err;
        });
      // One index per command, as mongoose sends them: FerretDB 1.24 drops the connection (a
      // panic on its side) when one createIndexes lists several indexes that already exist.
      for (const [key, options] of model.schema.indexes()) {
        const spec: mongo.IndexDescription = { ...indexOptions(options), key: key as mongo.IndexDescription['key'] };
        await db.collection(name).createIndexes([spec], { timeoutMS: NO_DEADLINE });
      }
    }),
  );
}

/** The driver's timeoutMS for "none": no client-side deadline and no maxTimeMS on the command. */
const NO_DEADLINE = 0;

/** A schema index's options without mongoose's own markers (`_autoIndex`...), which the server refuses. */
function indexOptions(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([name]) => !name.startsWith('_')));
}

/** The server's answer to creating a collection that exists (MongoDB and FerretDB alike). */
const NAMESPACE_EXISTS = 48;
