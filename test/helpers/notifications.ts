import { v7 as uuidv7 } from 'uuid';
import type { Notification } from '../../shared/notification.js';

/** A well-formed notification as the consumer would make it; tests override what they need. */
export function makeNotification(userId: string, overrides: Partial<Notification> = {}): Notification {
  return {
    id: uuidv7(),
    userId,
    seq: 1,
    type: 'ORDER',
    priority: 9,
    actors: [],
    actorCount: 0,
    objectId: `order-${uuidv7()}`,
    message: 'Your order shipped',
    createdAt: new Date().toISOString(),
    version: 1,
    eventIds: [uuidv7()],
    ...overrides,
  };
}
