import type { Redis } from '../shared/redis.js';
import { retryDelayMs, type BackgroundLoads } from '../shared/background.js';
import type { Models } from '../shared/models/index.js';
import { readCachedUnread, reconcileUnread, type UnreadState } from '../shared/unread.js';
import { unreadFrame } from './protocol.js';
import type { ConnectionRegistry } from './registry.js';

/**
 * The user's live unread count (shared/unread.ts) as the socket path sees it: one Redis MGET.
 * When Redis has no counter (a user whose count was never built, or Redis lost it), the rebuild
 * from MongoDB runs in the background and is waited on for at most `fallbackWaitMs`; past that
 * the answer is `undefined` ("not known yet") and the rebuild, when it lands, reaches every
 * socket of the user as an UNREAD frame. A rebuild that fails (MongoDB down) is tried again with
 * backoff for as long as the user has sockets here.
 */
export type UnreadReader = (userId: string) => Promise<UnreadState | undefined>;

export interface UnreadReaderOptions {
  redis: Redis;
  models: Models;
  loads: BackgroundLoads;
  fallbackWaitMs: number;
  /** A rebuild finished after its caller stopped waiting. */
  onRebuilt(userId: string, state: UnreadState): void;
  /** Whether anyone here still wants the user's count (a failed rebuild is tried again only then). */
  wanted(userId: string): boolean;
}

export interface UnreadReaderHandle {
  read: UnreadReader;
  /** Stops the retries of failed rebuilds (shutdown). */
  stop(): void;
}

export function unreadReader(options: UnreadReaderOptions): UnreadReaderHandle {
  const { redis, models, loads } = options;
  // In-process on purpose, like redelivery: only a connected socket's badge waits for it.
  const retries = new Map<string, NodeJS.Timeout>();
  const reconcile = (userId: string) => () => reconcileUnread(redis, models, userId, false);
  const rebuild = (userId: string, attempt: number): Promise<UnreadState> | undefined => {
    const running = loads.run(`unread:${userId}`, reconcile(userId));
    running?.catch(() => {
      if (retries.has(userId) || !options.wanted(userId)) return;
      const delayMs = retryDelayMs(attempt);
      const timer = setTimeout(() => {
        retries.delete(userId);
        if (options.wanted(userId))
          rebuild(userId, attempt + 1)?.then(
            (state) => options.onRebuilt(userId, state),
            () => undefined,
          );
      }, delayMs);
      timer.unref();
      retries.set(userId, timer);
    });
    return running;
  };
  return {
    async read(userId) {
      const cached = await readCachedUnread(redis, userId);
      if (cached) return cached;
      const answer = await loads.attempt(`unread:${userId}`, reconcile(userId), options.fallbackWaitMs);
      if (answer.done) return answer.value;
      // Joins the load attempt() started (same key), adding the retry and the UNREAD frame.
      rebuild(userId, 0)
        ?.then((state) => options.onRebuilt(userId, state))
        .catch(() => undefined);
      return undefined;
    },
    stop() {
      for (const timer of retries.values()) clearTimeout(timer);
      retries.clear();
    },
  };
}

/**
 * The user's count changed (a read, read-all, or a rebuild landed): every socket of the user on
 * this instance gets an UNREAD frame, unless it already knows this version or a newer one (frames
 * from two instances or two wakes may cross). A socket still authenticating keeps it for AUTH_OK.
 */
export function announceUnreadState(registry: ConnectionRegistry, userId: string, state: UnreadState): void {
  for (const session of registry.sessionsOf(userId)) {
    if (session.state !== 'ready' && session.state !== 'authenticating') continue;
    if (session.observeUnread(state) && session.state === 'ready') session.send(unreadFrame(state));
  }
}

export async function announceUnread(registry: ConnectionRegistry, read: UnreadReader, userId: string): Promise<void> {
  if (!registry.sessionsOf(userId).some((s) => s.state === 'ready' || s.state === 'authenticating')) return;
  const state = await read(userId);
  if (state) announceUnreadState(registry, userId, state);
}
