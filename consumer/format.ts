import type { ActivityEvent, EventType } from '../shared/schemas/event.js';

/**
 * The readable message of every event type, in one place. `nameOf` returns a display name for
 * a user id (the seeded name when known, the id itself otherwise).
 */
export function formatMessage(event: ActivityEvent, nameOf: (userId: string) => string): string {
  const actor = event.actorId !== undefined ? nameOf(event.actorId) : 'Someone';
  switch (event.type) {
    case 'LIKE':
      return `${actor} liked your post`;
    case 'COMMENT':
      return event.text ? `${actor} commented on your post: "${event.text}"` : `${actor} commented on your post`;
    case 'REPLY':
      return event.text ? `${actor} replied to your comment: "${event.text}"` : `${actor} replied to your comment`;
    case 'MENTION':
      return `${actor} mentioned you in a post`;
    case 'FOLLOW':
      return `${actor} started following you`;
    case 'SHARE':
      return `${actor} shared your post`;
    case 'POST':
      return `${actor} published a new post`;
    case 'UNFOLLOW':
      // Never delivered (an unfollow only changes the graph); here so every type has a message.
      return `${actor} stopped following you`;
    case 'SECURITY':
      return `Security alert: ${event.text ?? 'activity on your account'}`;
    case 'ORDER':
      return event.text ? `Your order ${event.orderId} ${event.text}` : `Your order ${event.orderId} was updated`;
    case 'PAYMENT':
      return event.amount !== undefined
        ? `Payment ${event.paymentId} of ${event.amount.toFixed(2)}${event.currency ? ` ${event.currency}` : ''} received`
        : `Payment ${event.paymentId} received`;
    case 'PROMO':
      return event.text ?? 'A new offer for you';
  }
}

/** Verb phrases of the aggregatable types: "<who> liked your post". */
const AGGREGATE_VERB: Partial<Record<EventType, string>> = {
  LIKE: 'liked your post',
  COMMENT: 'commented on your post',
  SHARE: 'shared your post',
};

/**
 * The message of an aggregate that absorbed more than one actor. `actors` are the display names,
 * most recent first; `count` is how many distinct actors it holds in all. Two names at most,
 * then "and N other(s)".
 */
export function formatAggregateMessage(type: EventType, actors: string[], count: number): string {
  const verb = AGGREGATE_VERB[type] ?? 'interacted with your post';
  const [first = 'Someone', second] = actors;
  if (count <= 1 || second === undefined) return `${first} ${verb}`;
  if (count === 2) return `${first} and ${second} ${verb}`;
  const others = count - 2;
  return `${first}, ${second} and ${others} ${others === 1 ? 'other' : 'others'} ${verb}`;
}

/** The user ids whose names a message needs. */
export function namesNeeded(event: ActivityEvent): string[] {
  return event.actorId !== undefined ? [event.actorId] : [];
}
