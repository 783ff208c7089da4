import type { Redis } from 'ioredis';
import type { Models } from '../shared/models/index.js';
import { readUnread, type UnreadState } from '../shared/unread.js';
import { unreadFrame } from './protocol.js';
import type { ConnectionRegistry } from './registry.js';

/** The user's live unread count (shared/unread.ts): one MGET, a MongoDB reconcile only if Redis lost it. */
export type UnreadReader = (userId: string) => Promise<UnreadState>;

export function unreadReader(redis: Redis, models: Models): UnreadReader {
  return (userId) => readUnread(redis, models, userId);
}

/**
 * A read or read-all changed the user's count: every socket of the user on this instance gets
 * an UNREAD frame, unless it already knows this version or a newer one (frames from two
 * instances or two wakes may cross). A socket still authenticating keeps it for its AUTH_OK.
 */
export async function announceUnread(registry: ConnectionRegistry, read: UnreadReader, userId: string): Promise<void> {
  const sessions = registry.sessionsOf(userId).filter((s) => s.state === 'ready' || s.state === 'authenticating');
  if (sessions.length === 0) return;
  const state = await read(userId);
  for (const session of sessions) {
    if (session.observeUnread(state) && session.state === 'ready') session.send(unreadFrame(state));
  }
}
