import Joi from 'joi';
import { fieldProblems, NO_VALUE_MESSAGES } from './no-value-messages.js';
import { protoKeyProblem } from './proto-key.js';

/**
 * The one definition of an activity event, per type. The producer validates with it before
 * publishing and the consumer validates again before processing, so a message that reached
 * the queue some other way cannot get in either. Unknown fields are rejected, not dropped.
 */
export const SOCIAL_TYPES = ['LIKE', 'COMMENT', 'REPLY', 'MENTION', 'FOLLOW', 'SHARE', 'POST', 'UNFOLLOW'] as const;
/** Types with no single recipient: the consumer fans them out to the actor's followers. */
export const FANOUT_TYPES = ['POST'] as const;
export const TRANSACTIONAL_TYPES = ['SECURITY', 'ORDER', 'PAYMENT'] as const;
export const PROMOTIONAL_TYPES = ['PROMO'] as const;
export const EVENT_TYPES = [...SOCIAL_TYPES, ...TRANSACTIONAL_TYPES, ...PROMOTIONAL_TYPES] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface ActivityEvent {
  eventId?: string;
  type: EventType;
  /** Who acted; optional for system-originated types (SECURITY, ORDER, PAYMENT, PROMO). */
  actorId?: string;
  /** The recipient of the notification; absent only for FANOUT_TYPES (the followers receive it). */
  targetId?: string;
  postId?: string;
  commentId?: string;
  orderId?: string;
  paymentId?: string;
  campaignId?: string;
  /** Free text: the order status, the security detail, the promo headline. */
  text?: string;
  amount?: number;
  currency?: string;
}

/**
 * Strict, never converted: an id with surrounding spaces is refused, not trimmed, so the rule
 * docs/openapi.yaml states (generated from this file) is exactly the one applied.
 */
/** The longest id (of a user, an object, an event): an Idempotency-Key is one too. */
export const ID_MAX_LENGTH = 128;
const id = () =>
  Joi.string()
    .min(1)
    .max(ID_MAX_LENGTH)
    .pattern(/^[A-Za-z0-9._:@-]+$/, 'id characters');
/** The id rule every user, actor and object id follows (a token's `sub` too: shared/auth/jwt.ts). */
export const idSchema = id();
/** Event ids double as AMQP message ids and Redis key parts: keep them short and plain. */
export const eventIdSchema = id();
const text = () => Joi.string().trim().min(1).max(500);

const base = { eventId: eventIdSchema, targetId: id().required() };

const schemas: Record<EventType, Joi.ObjectSchema> = {
  LIKE: Joi.object({ ...base, type: Joi.valid('LIKE').required(), actorId: id().required(), postId: id().required() }),
  COMMENT: Joi.object({
    ...base,
    type: Joi.valid('COMMENT').required(),
    actorId: id().required(),
    postId: id().required(),
    commentId: id(),
    text: text(),
  }),
  REPLY: Joi.object({
    ...base,
    type: Joi.valid('REPLY').required(),
    actorId: id().required(),
    commentId: id().required(),
    postId: id(),
    text: text(),
  }),
  MENTION: Joi.object({
    ...base,
    type: Joi.valid('MENTION').required(),
    actorId: id().required(),
    postId: id().required(),
  }),
  FOLLOW: Joi.object({ ...base, type: Joi.valid('FOLLOW').required(), actorId: id().required() }),
  SHARE: Joi.object({
    ...base,
    type: Joi.valid('SHARE').required(),
    actorId: id().required(),
    postId: id().required(),
  }),
  // No targetId: every follower of the actor is a recipient.
  POST: Joi.object({
    eventId: eventIdSchema,
    type: Joi.valid('POST').required(),
    actorId: id().required(),
    postId: id().required(),
  }),
  // Removes the follow edge actor → target; notifies nobody.
  UNFOLLOW: Joi.object({ ...base, type: Joi.valid('UNFOLLOW').required(), actorId: id().required() }),
  SECURITY: Joi.object({ ...base, type: Joi.valid('SECURITY').required(), actorId: id(), text: text().required() }),
  ORDER: Joi.object({
    ...base,
    type: Joi.valid('ORDER').required(),
    actorId: id(),
    orderId: id().required(),
    text: text(),
  }),
  PAYMENT: Joi.object({
    ...base,
    type: Joi.valid('PAYMENT').required(),
    actorId: id(),
    paymentId: id().required(),
    // Strict: a string amount or a third decimal is refused rather than converted or rounded
    // (money is not silently changed, and the documented rule is the applied one).
    amount: Joi.number().strict().positive().precision(2),
    // Upper-cased after validation (validateEvent), not by Joi: Joi converts before its rules, so
    // "ıab" would pass as "IAB" and the rule could not say which input it accepts.
    currency: Joi.string()
      .pattern(/^[A-Za-z]{3}$/, 'ISO 4217 code')
      .description('ISO 4217 code; converted to upper case'),
  }),
  PROMO: Joi.object({
    ...base,
    type: Joi.valid('PROMO').required(),
    actorId: id(),
    campaignId: id().required(),
    text: text().required(),
  }),
};

// Compiled once here: messages passed to validate() would be compiled again on every call.
for (const type of EVENT_TYPES) schemas[type] = schemas[type].messages(NO_VALUE_MESSAGES);

/** The Joi schema of one type, for docs/openapi.yaml's drift check. */
export function eventSchemaOf(type: EventType): Joi.ObjectSchema {
  return schemas[type];
}

const typeOnly = Joi.object({
  type: Joi.string()
    .valid(...EVENT_TYPES)
    .required(),
})
  .unknown(true)
  .messages(NO_VALUE_MESSAGES);

export interface FieldProblem {
  field: string;
  message: string;
}

export type EventValidation = { ok: true; event: ActivityEvent } | { ok: false; problems: FieldProblem[] };

const problemsOf = (error: Joi.ValidationError): FieldProblem[] => fieldProblems(error);

/** Validates one event against the schema of its type; every problem is reported at once. */
export function validateEvent(input: unknown): EventValidation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, problems: [{ field: '(body)', message: 'an event must be a JSON object' }] };
  }
  const protoKey = protoKeyProblem(input);
  if (protoKey) return { ok: false, problems: [protoKey] };
  const typed = typeOnly.validate(input);
  if (typed.error) return { ok: false, problems: problemsOf(typed.error) };
  const type = (input as { type: EventType }).type;
  const { value, error } = schemas[type].validate(input, { abortEarly: false, convert: true });
  if (error) return { ok: false, problems: problemsOf(error) };
  const event = value as ActivityEvent;
  // No NUL in free text: MongoDB stores it, but PostgreSQL under FerretDB refuses the whole insert,
  // and one such notification would fail every persist batch it lands in. Checked here, not as a
  // Joi pattern: the OpenAPI generator cannot express a pattern on a trimmed string.
  if (typeof event.text === 'string' && event.text.includes('\u0000'))
    return { ok: false, problems: [{ field: 'text', message: '"text" must not contain NUL characters' }] };
  if (event.currency !== undefined) event.currency = event.currency.toUpperCase();
  return { ok: true, event };
}
