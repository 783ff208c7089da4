import { EVENTS_MAX_PRIORITY } from './amqp/topology.js';
import { EVENT_TYPE_TABLE } from './event-types.js';
import type { EventType } from './schemas/event.js';

/**
 * Categories and their AMQP priorities (the events queue is a priority queue with
 * x-max-priority EVENTS_MAX_PRIORITY). The same number travels on the notification and orders
 * replay on the socket: transactional > social > promotional.
 */
export type Category = 'transactional' | 'social' | 'promotional';



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
