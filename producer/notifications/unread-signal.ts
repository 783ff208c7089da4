import type { Redis } from '../../shared/redis.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { UnreadChangedMessage } from '../../shared/messages.js';
import { publishWake } from '../../shared/wake-channel.js';

/** Tells the ws-servers holding the user that its unread count changed, so their sockets get an UNREAD frame. */
export type UnreadSignal = (userId: string) => Promise<void>;

/**
 * Routed like a wake (shared/wake-channel.ts: one script call on the producer's own client).
 * It runs as soon as a read lowered the count, before MongoDB's update (which may then miss its
 * deadline: the client retries, and the history lists it unread until that lands). A failure is
 * only logged: the frame is a courtesy, and the next push, AUTH_OK or unread-count call carries
 * the count anyway.
 */
export function unreadSignal(redis: Redis, keyPrefix: string, logger: Logger): UnreadSignal {
  return async (userId) => {
    const body: UnreadChangedMessage = { kind: 'unread', userId };
    try {
      await publishWake(redis, keyPrefix, body);
    } catch (err) {
      logger.warn(
        { err: errorMessage(err), userId },
        'unread change not announced; clients catch up on the next frame',
      );
    }
  };
}
