import type { Connection } from 'mongoose';
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
 * Creates the declared indexes (autoIndex is off). createIndexes, not syncIndexes: it never
 * drops an index another version of the service still relies on during a rolling deploy.
 * Start-up work, so it gets start-up's deadline (`timeoutMs`, CONNECT_TIMEOUT_MS) rather than a
 * query's: creating a database's collections and indexes on a busy store takes longer than a read.
 */
export async function ensureIndexes(m: Models, timeoutMs?: number): Promise<void> {
  const options = timeoutMs === undefined ? {} : { timeoutMS: timeoutMs };
  await Promise.all(
    Object.values(m).map(async (model) => {
      // Every collection exists from start-up on (shared/mongo.ts sets autoCreate off).
      await model.createCollection(options).catch((err: unknown) => {
        if ((err as { code?: unknown }).code !== NAMESPACE_EXISTS) throw err;
      });
      await model.createIndexes(options);
    }),
  );
}

/** The server's answer to creating a collection that exists (MongoDB and FerretDB alike). */
const NAMESPACE_EXISTS = 48;
