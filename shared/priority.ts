import { EVENT_TYPE_TABLE } from './event-types.js';
import type { EventType } from './schemas/event.js';

/**
 * Categories and their priorities. The same number travels on the AMQP message and on the
 * notification, and orders replay on the socket: transactional > social > promotional.
 *
 * How the broker honours it depends on the queue type (shared/amqp/topology.ts):
 * - classic: one events queue with x-max-priority EVENTS_MAX_PRIORITY, the broker delivers the
 *   highest priority first;
 * - quorum (no message priority on RabbitMQ 3.x): one events queue per category, and the consumer
 *   takes what it was delivered highest category first (consumer/priority-order.ts).
 */
export type Category = 'transactional' | 'social' | 'promotional';

/** Highest first: the order the consumer subscribes in and takes deliveries in. */
export const CATEGORIES: readonly Category[] = ['transactional', 'social', 'promotional'];

/** Highest AMQP priority used on the classic events queue (its x-max-priority). */
export const EVENTS_MAX_PRIORITY = 10;

export const PRIORITY_OF_CATEGORY: Record<Category, number> = {
  transactional: 9,
  social: 5,
  promotional: 1,
};

/** Each type's category, from the event-type table (shared/event-types.ts). */
export function categoryOf(type: EventType): Category {
  return EVENT_TYPE_TABLE[type].category;
}

export function priorityOf(type: EventType): number {
  return Math.min(PRIORITY_OF_CATEGORY[categoryOf(type)], EVENTS_MAX_PRIORITY);
}
