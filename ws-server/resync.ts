import type { Redis } from '../shared/redis.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { PreferenceStore } from '../shared/preferences.js';
import type { Delivery } from './delivery.js';
import type { ConnectionRegistry } from './registry.js';
import { planReplay } from './replay.js';
import type { RouteRegistration } from './replay-state.js';
import { announceUnreadState, type UnreadReader } from './unread.js';

export interface ResyncDeps {
  redis: Redis;
  keyPrefix: string;
  registry: ConnectionRegistry;
  delivery: Delivery;
  readUnread: UnreadReader;
  preferences: PreferenceStore;
  replayLimit: number;
  /** Re-registered by the replay read, like AUTH. */
  route: RouteRegistration;
  logger: Logger;
}

/** Users resynced at once: bounded so a large instance does not flood Redis at reconnect. */
const RESYNC_CONCURRENCY = 16;

/**
 * After the wake subscriber lost its connection (wake.ts), wakes published during the gap are
 * gone (all `users` here); so are those published while a user's route registration had lapsed
 * (route.ts; those `users` only). Each such user with a socket here gets what an AUTH replay
 * would send (the Redis half, do-not-disturb applied) and the current unread count;
 * Delivery.push skips what a socket already holds in flight at that version, so only what the
 * gap swallowed is sent. MongoDB is not asked: a wake is only ever about notifications the
 * buffer holds.
 */
export async function resyncSessions(deps: ResyncDeps, users = deps.registry.users()): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < users.length) {
      const userId = users[next++]!;
      await resyncUser(deps, userId).catch((err: unknown) =>
        deps.logger.warn(
          { err: errorMessage(err), userId },
          'resync after a wake gap failed; the next replay or redelivery brings it',
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(RESYNC_CONCURRENCY, users.length) }, worker));
  return users.length;
}

async function resyncUser(deps: ResyncDeps, userId: string): Promise<void> {
  const live = () =>
    deps.registry.sessionsOf(userId).filter((s) => s.state === 'ready' || s.state === 'authenticating');
  if (live().length === 0) return;
  const { replay, unread } = await planReplay(deps, userId, deps.replayLimit);
  if (unread) announceUnreadState(deps.registry, userId, unread);
  deps.delivery.pushToAll(live(), replay.notifications, unread);
}
