import { randomUUID } from 'node:crypto';

/**
 * The request id that follows one HTTP request into the logs of every service it reaches: the
 * producer's access line and error lines, then the consumer's lines about the event it became
 * (carried as the AMQP message's `correlationId`, kept by retry and dead-letter copies and by a
 * POST's fan-out pages). docs/operations.md "Access log and request id".
 *
 * What an inbound X-Request-Id may be to be kept: a proxy's or a caller's id (uuid, ULID,
 * `trace:span`...). Anything else (too long, spaces, quotes, control characters) is replaced, so
 * what lands in logs, in the response header and in the message is always a short, inert token.
 */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export function isRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID_PATTERN.test(value);
}

/** The request's own X-Request-Id when it is sane, else a fresh uuid. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return isRequestId(header) ? header : randomUUID();
}

/**
 * The request id an AMQP message carries as its correlationId, when it is one: anything else a
 * publisher put there is not logged.
 */
export function requestIdOfMessage(msg: { properties: { correlationId?: unknown } }): string | undefined {
  const id = msg.properties.correlationId;
  return isRequestId(id) ? id : undefined;
}
