import { PermanentError } from '../shared/errors.js';
import { validateEvent, type ActivityEvent } from '../shared/schemas/event.js';

/** A message that can never be processed, whatever happens: dead-lettered at once. */
export class PoisonMessageError extends PermanentError {
  constructor(
    readonly reason: 'invalid_json' | 'invalid_event' | 'missing_event_id',
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
    this.name = 'PoisonMessageError';
  }
}

/** A valid event as it came off the queue; a fan-out type (POST) has no targetId yet. */
export type IncomingEvent = ActivityEvent & { eventId: string };
/** An event with its one recipient: what the per-recipient path (process-event.ts) handles. */
export type ParsedEvent = IncomingEvent & { targetId: string };

/**
 * Validates the body again with the same schema the producer used: the queue may hold
 * messages published by anything. The eventId is the body's, else the AMQP messageId.
 */
export function parseEvent(content: Buffer, messageId: string | undefined): IncomingEvent {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    // Not the parser's message: it quotes the body, and the reason is logged and sent as a header.
    throw new PoisonMessageError('invalid_json', 'the body is not JSON');
  }
  const result = validateEvent(body);
  if (!result.ok) {
    throw new PoisonMessageError('invalid_event', result.problems.map((p) => `${p.field}: ${p.message}`).join('; '));
  }
  const eventId = result.event.eventId ?? messageId;
  if (!eventId)
    throw new PoisonMessageError('missing_event_id', 'neither the body nor the messageId carries an eventId');
  return { ...result.event, eventId };
}
