import { v7 as uuidv7 } from 'uuid';
import { ID_MAX_LENGTH, eventIdSchema, validateEvent, type ActivityEvent } from '../shared/schemas/event.js';
import type { Logger } from '../shared/logger.js';
import { BrokerUnavailableError, ValidationFailedError } from './http-errors.js';
import type { IdempotencyCheck } from './idempotency.js';
import type { ProducerMetrics } from './metrics.js';
import { PublishFailedError, type EventPublisher } from './publisher.js';

/**
 * Accepting an event: validate, settle its eventId, publish, and succeed only on the broker's
 * confirm. A repeated eventId is published again and the consumer's eventId dedupe makes it count
 * once; an eventId the client chose is first checked against the event it was first used with
 * (producer/idempotency.ts), so a key reused for a different event is a 422, not a 202 the
 * consumer then drops.
 */
export interface AcceptDeps {
  publisher: EventPublisher;
  idempotency: IdempotencyCheck;
  metrics: ProducerMetrics;
  retryAfterSeconds: number;
  /** Per-event `debug` line with the eventId, the first hop of docs/operations.md "Following one event". */
  logger?: Logger;
  /**
   * The HTTP request's id (shared/request-id.ts), set per request (`forRequest`): the message
   * carries it as its correlationId, so the consumer's lines about the event name the request.
   */
  requestId?: string;
}

/** The deps of one request: the same, carrying its request id into every event it publishes. */
export function forRequest<D extends AcceptDeps>(deps: D, requestId: string | undefined): D {
  return requestId === undefined ? deps : { ...deps, requestId };
}

export interface Accepted {
  eventId: string;
  status: 'accepted';
}

/** The Idempotency-Key header's value; an empty one counts as none. */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  return header === undefined || header === '' ? undefined : header;
}

/**
 * Refuses an Idempotency-Key that is not an eventId of at most `maxLength` characters (a batch
 * appends `:<index>` to it, so it must leave room for that: producer/accept-batch.ts).
 */
export function checkIdempotencyKey(headerKey: string, maxLength = ID_MAX_LENGTH): void {
  // Not converted: a key Joi would trim (a no-break space around it) is refused, not used as is.
  if (headerKey.length > maxLength || eventIdSchema.validate(headerKey, { convert: false }).error) {
    throw new ValidationFailedError([
      {
        field: 'Idempotency-Key',
        message: `the Idempotency-Key header must be 1-${maxLength} characters of A-Z a-z 0-9 . _ : @ -`,
      },
    ]);
  }
}

/** Body eventId, else the Idempotency-Key header, else a fresh uuid v7; a disagreement is a 400. */
export function resolveEventId(bodyEventId: string | undefined, headerKey: string | undefined): string {
  if (headerKey !== undefined) checkIdempotencyKey(headerKey);
  if (bodyEventId !== undefined && headerKey !== undefined && bodyEventId !== headerKey) {
    throw new ValidationFailedError([
      { field: 'eventId', message: '"eventId" must equal the Idempotency-Key header when both are given' },
    ]);
  }
  return bodyEventId ?? headerKey ?? uuidv7();
}

export function validateOrThrow(input: unknown): ActivityEvent {
  const result = validateEvent(input);
  if (!result.ok) throw new ValidationFailedError(result.problems);
  return result.event;
}

export async function publishAccepted(deps: AcceptDeps, event: ActivityEvent & { eventId: string }): Promise<Accepted> {
  const stopTimer = deps.metrics.publishSeconds.startTimer();
  try {
    await deps.publisher.publish(event, deps.requestId);
  } catch (err) {
    if (err instanceof PublishFailedError)
      throw new BrokerUnavailableError(event.eventId, deps.retryAfterSeconds, err.message);
    throw err;
  } finally {
    stopTimer();
  }
  deps.metrics.accepted.inc({ type: event.type });
  deps.logger?.debug({ eventId: event.eventId, type: event.type, requestId: deps.requestId }, 'event accepted');
  return { eventId: event.eventId, status: 'accepted' };
}

/**
 * Publishes an event whose eventId the client chose (`chosen`) only if that eventId is new or was
 * first used for this same event (IdempotencyKeyReusedError otherwise); a generated one goes
 * straight to the broker, without a Redis round trip.
 */
export async function publishChecked(
  deps: AcceptDeps,
  event: ActivityEvent & { eventId: string },
  chosen: boolean,
): Promise<Accepted> {
  if (chosen) await deps.idempotency.check(event.eventId, event);
  return publishAccepted(deps, event);
}

export async function acceptEvent(deps: AcceptDeps, input: unknown, headerKey: string | undefined): Promise<Accepted> {
  const event = validateOrThrow(input);
  const eventId = resolveEventId(event.eventId, headerKey);
  return publishChecked(deps, { ...event, eventId }, event.eventId !== undefined || headerKey !== undefined);
}
