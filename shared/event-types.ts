import type Joi from 'joi';
import type { Category } from './priority.js';
import { eventSchemaOf, type ActivityEvent, type EventType } from './schemas/event.js';

/**
 * Every per-event-type fact of the pipeline, in one table: what a newcomer adding a type edits,
 * and the only place the consumer asks "what kind of event is this?".
 *
 * - `schema`: the Joi schema the producer and the consumer validate with (shared/schemas/event.ts).
 * - `category` decides the AMQP priority (shared/priority.ts) and the exemptions below.
 * - `objectField`: the field naming what the notification is about (its `objectId`, the action
 *   fingerprint, the aggregation window).
 * - `aggregateVerb`: set for types whose events on one object fold into one notification inside
 *   AGGREGATION_WINDOW_MS ("Ann, Bo and 3 others liked your post").
 * - `fanout`: no single recipient; the consumer notifies the actor's followers.
 * - `exempt`: the rules that never apply. Transactional events are two facts even when alike
 *   (no action dedupe), must always arrive (no rate limits, no preferences), and may concern
 *   the actor themself (no self rule).
 * - `format`: the readable message, given the actor's display name ('Someone' when none).
 */
export interface EventTypeFacts {
  schema: Joi.ObjectSchema;
  category: Category;
  objectField: 'postId' | 'commentId' | 'orderId' | 'paymentId' | 'campaignId' | null;
  aggregateVerb: string | null;
  fanout: boolean;
  exempt: { actionDedupe: boolean; rateLimits: boolean; preferences: boolean; selfNotification: boolean };
  format(event: ActivityEvent, actor: string): string;
}

const social = { actionDedupe: false, rateLimits: false, preferences: false, selfNotification: false };
const promotional = social;
const transactional = { actionDedupe: true, rateLimits: true, preferences: true, selfNotification: true };

function facts(type: EventType, rest: Omit<EventTypeFacts, 'schema'>): EventTypeFacts {
  return { schema: eventSchemaOf(type), ...rest };
}

export const EVENT_TYPE_TABLE: Record<EventType, EventTypeFacts> = {
  LIKE: facts('LIKE', {
    category: 'social',
    objectField: 'postId',
    aggregateVerb: 'liked your post',
    fanout: false,
    exempt: social,
    format: (_e, actor) => `${actor} liked your post`,
  }),
  COMMENT: facts('COMMENT', {
    category: 'social',
    objectField: 'postId',
    aggregateVerb: 'commented on your post',
    fanout: false,
    exempt: social,
    format: (e, actor) => (e.text ? `${actor} commented on your post: "${e.text}"` : `${actor} commented on your post`),
  }),
  REPLY: facts('REPLY', {
    category: 'social',
    objectField: 'commentId',
    aggregateVerb: null,
    fanout: false,
    exempt: social,
    format: (e, actor) =>
      e.text ? `${actor} replied to your comment: "${e.text}"` : `${actor} replied to your comment`,
  }),
  MENTION: facts('MENTION', {
    category: 'social',
    objectField: 'postId',
    aggregateVerb: null,
    fanout: false,
    exempt: social,
    format: (_e, actor) => `${actor} mentioned you in a post`,
  }),
  FOLLOW: facts('FOLLOW', {
    category: 'social',
    objectField: null,
    aggregateVerb: null,
    fanout: false,
    exempt: social,
    format: (_e, actor) => `${actor} started following you`,
  }),
  SHARE: facts('SHARE', {
    category: 'social',
    objectField: 'postId',
    aggregateVerb: 'shared your post',
    fanout: false,
    exempt: social,
    format: (_e, actor) => `${actor} shared your post`,
  }),
  POST: facts('POST', {
    category: 'social',
    objectField: 'postId',
    aggregateVerb: null,
    fanout: true,
    exempt: social,
    format: (_e, actor) => `${actor} published a new post`,
  }),
  UNFOLLOW: facts('UNFOLLOW', {
    category: 'social',
    objectField: null,
    aggregateVerb: null,
    fanout: false,
    exempt: social,
    // Never delivered (an unfollow only changes the graph); here so every type has a message.
    format: (_e, actor) => `${actor} stopped following you`,
  }),
  SECURITY: facts('SECURITY', {
    category: 'transactional',
    objectField: null,
    aggregateVerb: null,
    fanout: false,
    exempt: transactional,
    format: (e) => `Security alert: ${e.text ?? 'activity on your account'}`,
  }),
  ORDER: facts('ORDER', {
    category: 'transactional',
    objectField: 'orderId',
    aggregateVerb: null,
    fanout: false,
    exempt: transactional,
    format: (e) => (e.text ? `Your order ${e.orderId} ${e.text}` : `Your order ${e.orderId} was updated`),
  }),
  PAYMENT: facts('PAYMENT', {
    category: 'transactional',
    objectField: 'paymentId',
    aggregateVerb: null,
    fanout: false,
    exempt: transactional,
    format: (e) =>
      e.amount !== undefined
        ? `Payment ${e.paymentId} of ${e.amount.toFixed(2)}${e.currency ? ` ${e.currency}` : ''} received`
        : `Payment ${e.paymentId} received`,
  }),
  PROMO: facts('PROMO', {
    category: 'promotional',
    objectField: 'campaignId',
    aggregateVerb: null,
    fanout: false,
    exempt: promotional,
    format: (e) => e.text ?? 'A new offer for you',
  }),
};

export function factsOf(type: EventType): EventTypeFacts {
  return EVENT_TYPE_TABLE[type];
}

/** The object a notification is about, for dedupe, aggregation and the notification's objectId. */
export function objectIdOf(event: ActivityEvent): string | null {
  const field = factsOf(event.type).objectField;
  return field === null ? null : (event[field] ?? null);
}

export function isFanoutType(type: EventType): boolean {
  return factsOf(type).fanout;
}
