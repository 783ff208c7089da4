import type { ErrorRequestHandler, RequestHandler } from 'express';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
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
  constructor(readonly details: FieldProblem[]) {
    super(400, 'validation_failed', 'the request body is not a valid event', { details });
  }
}

/** The broker is unreachable or did not confirm in time: nothing was accepted, retry later. */
export class BrokerUnavailableError extends HttpError {
  constructor(
    readonly eventId: string,
    readonly retryAfterSeconds: number,
    reason: string,
  ) {
    super(503, 'broker_unavailable', reason, { eventId });
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

export function errorHandler(logger: Logger, metrics: ProducerMetrics): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    const known = err instanceof HttpError ? err : fromBodyParser(err as BodyParserError);
    if (!known) {
      logger.error({ err: errorMessage(err) }, 'unhandled request error');
      res.status(500).json({ error: 'internal_error', message: 'unexpected error' });
      return;
    }
    metrics.rejected.inc({ reason: known.code });
    if (known instanceof BrokerUnavailableError) res.set('Retry-After', String(known.retryAfterSeconds));
    res.status(known.status).json({ error: known.code, message: known.message, ...known.extra });
  };
}
