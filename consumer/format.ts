import type { ActivityEvent } from '../shared/schemas/event.js';

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

/** The user ids whose names a message needs. */
export function namesNeeded(event: ActivityEvent): string[] {
  return event.actorId !== undefined ? [event.actorId] : [];
}
