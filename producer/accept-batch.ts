import Joi from 'joi';
import { v7 as uuidv7 } from 'uuid';
import { ID_MAX_LENGTH, validateEvent, type ActivityEvent, type FieldProblem } from '../shared/schemas/event.js';
import { fieldProblems, NO_VALUE_MESSAGES } from '../shared/schemas/no-value-messages.js';
import { protoKeyProblem } from '../shared/schemas/proto-key.js';
import { checkIdempotencyKey, publishChecked, type AcceptDeps } from './accept-event.js';
import { BrokerUnavailableError, IdempotencyKeyReusedError, ValidationFailedError } from './http-errors.js';

/**
 * Bulk simulation: every item is validated and published on its own, so one bad item never
 * costs the good ones, and each result says exactly what happened to its item.
 *
 * With an Idempotency-Key the batch is idempotent item by item: item i without an eventId gets
 * `<key>:<i>`, so a retried batch publishes the same eventIds and the consumer counts each once.
 * Every eventId the client chose (the key's, or an item's own) follows producer/idempotency.ts:
 * reused for a different event, the item is rejected `idempotency_key_reused`. An eventId twice
 * in one batch is published once, for its first item; the later ones are rejected
 * `duplicate_event_id`.
 */
export type BatchItemResult =
  | { index: number; status: 'accepted'; eventId: string }
  | { index: number; status: 'rejected'; error: 'validation_failed'; details: FieldProblem[] }
  | {
      index: number;
      status: 'rejected';
      error: 'idempotency_key_reused' | 'duplicate_event_id';
      eventId: string;
      message: string;
    }
  | { index: number; status: 'failed'; error: 'broker_unavailable'; eventId: string };

export interface BatchResult {
  accepted: number;
  rejected: number;
  failed: number;
  results: BatchItemResult[];
}

/** Built once per limit: building a Joi schema costs more than validating with it. */
const envelopeSchemas = new Map<number, Joi.ObjectSchema>();
function envelopeSchema(maxEvents: number): Joi.ObjectSchema {
  let schema = envelopeSchemas.get(maxEvents);
  if (!schema) {
    schema = Joi.object({ events: Joi.array().min(1).max(maxEvents).required() }).messages(NO_VALUE_MESSAGES);
    envelopeSchemas.set(maxEvents, schema);
  }
  return schema;
}

/**
 * The longest Idempotency-Key a batch takes: `<key>:<index>` must still be an eventId for the
 * highest index a batch may have (BATCH_MAX_EVENTS - 1), so one rule holds whatever the batch's
 * size: 124 characters with the default 500.
 */
export function batchKeyMaxLength(maxEvents: number): number {
  return ID_MAX_LENGTH - 1 - String(Math.max(0, maxEvents - 1)).length;
}

/** An item that passed validation, with the eventId it is published under. */
type Settled =
  | { index: number; event: ActivityEvent & { eventId: string }; chosen: boolean }
  | { index: number; result: BatchItemResult };

function settle(input: unknown, index: number, batchKey: string | undefined, seen: Set<string>): Settled {
  const validation = validateEvent(input);
  if (!validation.ok)
    return { index, result: { index, status: 'rejected', error: 'validation_failed', details: validation.problems } };
  const own = validation.event.eventId;
  const eventId = own ?? (batchKey === undefined ? uuidv7() : `${batchKey}:${index}`);
  if (seen.has(eventId)) {
    const message = 'an earlier item of this batch has the same eventId; an event is sent once';
    return { index, result: { index, status: 'rejected', error: 'duplicate_event_id', eventId, message } };
  }
  seen.add(eventId);
  return { index, event: { ...validation.event, eventId }, chosen: own !== undefined || batchKey !== undefined };
}

async function acceptItem(deps: AcceptDeps, item: Settled): Promise<BatchItemResult> {
  if ('result' in item) return item.result;
  const { index, event } = item;
  const eventId = event.eventId;
  try {
    await publishChecked(deps, event, item.chosen);
    return { index, status: 'accepted', eventId };
  } catch (err) {
    if (err instanceof IdempotencyKeyReusedError)
      return { index, status: 'rejected', error: 'idempotency_key_reused', eventId, message: err.message };
    if (err instanceof BrokerUnavailableError) return { index, status: 'failed', error: 'broker_unavailable', eventId };
    throw err;
  }
}

export async function acceptBatch(
  deps: AcceptDeps,
  body: unknown,
  maxEvents: number,
  headerKey?: string,
): Promise<BatchResult> {
  const protoKey = protoKeyProblem(body, { deep: false });
  if (protoKey) throw new ValidationFailedError([protoKey]);
  const { error } = envelopeSchema(maxEvents).validate(body, { abortEarly: false });
  if (error) throw new ValidationFailedError(fieldProblems(error));
  if (headerKey !== undefined) checkIdempotencyKey(headerKey, batchKeyMaxLength(maxEvents));
  const events = (body as { events: unknown[] }).events;
  const seen = new Set<string>();
  // Settled in order first, so the first item of a repeated eventId is the one published.
  const settled = events.map((event, index) => settle(event, index, headerKey, seen));
  const results = await Promise.all(settled.map((item) => acceptItem(deps, item)));
  const count = (status: BatchItemResult['status']) => results.filter((r) => r.status === status).length;
  return { accepted: count('accepted'), rejected: count('rejected'), failed: count('failed'), results };
}
