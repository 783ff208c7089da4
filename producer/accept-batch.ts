import Joi from 'joi';
import { v7 as uuidv7 } from 'uuid';
import { validateEvent, type FieldProblem } from '../shared/schemas/event.js';
import { fieldProblems, NO_VALUE_MESSAGES } from '../shared/schemas/no-value-messages.js';
import { protoKeyProblem } from '../shared/schemas/proto-key.js';
import { publishAccepted, type AcceptDeps } from './accept-event.js';
import { BrokerUnavailableError, ValidationFailedError } from './http-errors.js';

/**
 * Bulk simulation: every item is validated and published on its own, so one bad item never
 * costs the good ones, and each result says exactly what happened to its item.
 */
export type BatchItemResult =
  | { index: number; status: 'accepted'; eventId: string }
  | { index: number; status: 'rejected'; error: 'validation_failed'; details: FieldProblem[] }
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

async function acceptItem(deps: AcceptDeps, input: unknown, index: number): Promise<BatchItemResult> {
  const validation = validateEvent(input);
  if (!validation.ok) return { index, status: 'rejected', error: 'validation_failed', details: validation.problems };
  const eventId = validation.event.eventId ?? uuidv7();
  try {
    await publishAccepted(deps, { ...validation.event, eventId });
    return { index, status: 'accepted', eventId };
  } catch (err) {
    if (err instanceof BrokerUnavailableError) return { index, status: 'failed', error: 'broker_unavailable', eventId };
    throw err;
  }
}

export async function acceptBatch(deps: AcceptDeps, body: unknown, maxEvents: number): Promise<BatchResult> {
  const protoKey = protoKeyProblem(body, { deep: false });
  if (protoKey) throw new ValidationFailedError([protoKey]);
  const { error } = envelopeSchema(maxEvents).validate(body, { abortEarly: false });
  if (error) throw new ValidationFailedError(fieldProblems(error));
  const events = (body as { events: unknown[] }).events;
  const results = await Promise.all(events.map((event, index) => acceptItem(deps, event, index)));
  const count = (status: BatchItemResult['status']) => results.filter((r) => r.status === status).length;
  return { accepted: count('accepted'), rejected: count('rejected'), failed: count('failed'), results };
}
