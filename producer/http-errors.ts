import type { ErrorRequestHandler, RequestHandler } from 'express';
import { errorMessage } from '../shared/errors.js';
import { requestIdOf } from '../shared/http/request-log.js';
import type { Logger } from '../shared/logger.js';
import { mongoUnavailable } from '../shared/mongo.js';
import { redisUnavailable } from '../shared/redis.js';
import type { FieldProblem } from '../shared/schemas/event.js';
import type { ProducerMetrics } from './metrics.js';

/** Errors a request can end with; the error handler turns each into its status and body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export class ValidationFailedError extends HttpError {
  constructor(
    readonly details: FieldProblem[],
    message = 'the request body is not a valid event',
  ) {
    super(400, 'validation_failed', message, { details });
  }
}

/**
 * The eventId a client chose (Idempotency-Key, or a body eventId) was already used for a
 * different event (producer/idempotency.ts): the consumer would drop this one as a repeat, so it
 * is refused rather than answered 202. No value is echoed: the client knows which key it sent.
 */
export class IdempotencyKeyReusedError extends HttpError {
  constructor() {
    super(
      422,
      'idempotency_key_reused',
      'this Idempotency-Key (or eventId) was already used for a different event; a new event needs a new key',
    );
  }
}

/** A 503 (or 429) that tells the client when to come back (Retry-After). */
export class RetryLaterError extends HttpError {
  constructor(
    code: string,
    message: string,
    readonly retryAfterSeconds: number,
    extra: Record<string, unknown> = {},
    status = 503,
  ) {
    super(status, code, message, extra);
  }
}

/** The client's address used up its requests of the minute (producer/rate-limit.ts). */
export class RateLimitedError extends RetryLaterError {
  constructor(retryAfterSeconds: number) {
    super(
      'rate_limited',
      `too many requests from your address; retry in ${retryAfterSeconds} s`,
      retryAfterSeconds,
      {},
      429,
    );
  }
}

/** The broker is unreachable or did not confirm in time: nothing was accepted, retry later. */
export class BrokerUnavailableError extends RetryLaterError {
  constructor(
    readonly eventId: string,
    retryAfterSeconds: number,
    reason: string,
  ) {
    super('broker_unavailable', reason, retryAfterSeconds, { eventId });
  }
}

/**
 * MongoDB did not answer within MONGO_QUERY_TIMEOUT_MS or cannot be reached, or Redis (the
 * buffer, counters, preferences' copy) did not answer within REDIS_COMMAND_TIMEOUT_MS or cannot be
 * reached: only the routes that read or write it fail, with a 503 the client may retry, never a
 * 500 or a hung request. One code for both: to the client they are one store.
 */
export class StoreUnavailableError extends RetryLaterError {
  constructor(retryAfterSeconds: number) {
    super('store_unavailable', 'the notification store did not answer in time; retry later', retryAfterSeconds);
  }
}

/** 415 unless the request says it carries JSON; body-parser would otherwise skip it silently. */
export const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is('application/json')) {
    next(new HttpError(415, 'unsupported_media_type', 'send the event as Content-Type: application/json'));
    return;
  }
  next();
};

interface BodyParserError {
  type?: string;
  status?: number;
}

function fromBodyParser(err: BodyParserError): HttpError | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return new HttpError(413, 'payload_too_large', 'the request body exceeds the size limit');
    case 'entity.parse.failed':
      return new HttpError(400, 'invalid_json', 'the request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'unsupported_media_type', 'unsupported body encoding or charset');
    default:
      return undefined;
  }
}

/** Express could not percent-decode a path parameter (`/users/%zz/...`): the client's mistake. */
function fromRouter(err: unknown): HttpError | undefined {
  if (!(err instanceof URIError) || (err as { status?: unknown }).status !== 400) return undefined;
  return new ValidationFailedError(
    [{ field: '(path)', message: 'a path segment is not valid percent-encoding' }],
    'invalid path',
  );
}

function fromStore(
  err: unknown,
  retryAfterSeconds: number,
  logger: Logger,
  requestId: string | undefined,
): HttpError | undefined {
  const mongo = mongoUnavailable(err);
  if (mongo) {
    logger.warn({ err: mongo.message, requestId }, 'mongodb unavailable; answering 503');
    return new StoreUnavailableError(retryAfterSeconds);
  }
  const redis = redisUnavailable(err);
  if (redis) {
    logger.warn({ err: redis.message, requestId }, 'redis unavailable; answering 503');
    return new StoreUnavailableError(retryAfterSeconds);
  }
  return undefined;
}

/** What a failed request is answered: status, headers and the JSON body. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/**
 * The one mapping from an error to its answer, used by the Express error handler and by the
 * intake fast path (producer/intake-fast-path.ts), so both answer a failure alike. Every error
 * answer is `{ error, message, ...extra, requestId }`: the requestId (the X-Request-Id header's,
 * shared/http/request-log.ts) lets a client's report be matched to the access-log and error
 * lines of its request.
 */
export function answerFor(
  err: unknown,
  logger: Logger,
  metrics: ProducerMetrics,
  retryAfterSeconds: number,
  requestId: string | undefined,
): ErrorAnswer {
  const known =
    err instanceof HttpError
      ? err
      : (fromBodyParser(err as BodyParserError) ??
        fromRouter(err) ??
        fromStore(err, retryAfterSeconds, logger, requestId));
  if (!known) {
    logger.error({ err: errorMessage(err), requestId }, 'unhandled request error');
    return { status: 500, headers: {}, body: { error: 'internal_error', message: 'unexpected error', requestId } };
  }
  metrics.rejected.inc({ reason: known.code });
  const headers: Record<string, string> =
    known instanceof RetryLaterError ? { 'Retry-After': String(known.retryAfterSeconds) } : {};
  return {
    status: known.status,
    headers,
    body: { error: known.code, message: known.message, ...known.extra, requestId },
  };
}

export function errorHandler(logger: Logger, metrics: ProducerMetrics, retryAfterSeconds: number): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    const answer = answerFor(err, logger, metrics, retryAfterSeconds, requestIdOf(res));
    res.set(answer.headers);
    res.status(answer.status).json(answer.body);
  };
}
