import express, { Router, type RequestHandler } from 'express';
import { noteEventId, requestIdOf } from '../../shared/http/request-log.js';
import { acceptBatch } from '../accept-batch.js';
import { acceptEvent, forRequest, idempotencyKeyOf, type AcceptDeps } from '../accept-event.js';
import { HttpError, requireJson } from '../http-errors.js';

export interface EventsRouterOptions {
  maxBodyBytes: number;
  batchMaxBodyBytes: number;
  batchMaxEvents: number;
}

/**
 * POST /events, POST /like (the legacy Postman body) and POST /events/batch, each behind
 * `intakeKey` (producer/intake-key.ts), which runs before the body is read.
 */
export function eventsRouter(deps: AcceptDeps, options: EventsRouterOptions, intakeKey: RequestHandler): Router {
  const router = Router();
  const json = express.json({ limit: options.maxBodyBytes, strict: false });
  const batchJson = express.json({ limit: options.batchMaxBodyBytes, strict: false });

  router.post('/events/batch', intakeKey, requireJson, batchJson, async (req, res) => {
    const result = await acceptBatch(
      forRequest(deps, requestIdOf(res)),
      req.body,
      options.batchMaxEvents,
      idempotencyKeyOf(req.get('Idempotency-Key')),
    );
    if (result.accepted === 0 && result.failed > 0) res.set('Retry-After', String(deps.retryAfterSeconds));
    res.status(result.accepted === 0 && result.failed > 0 ? 503 : 200).json(result);
  });

  router.post('/events', intakeKey, requireJson, json, async (req, res) => {
    const accepted = await acceptEvent(
      forRequest(deps, requestIdOf(res)),
      req.body,
      idempotencyKeyOf(req.get('Idempotency-Key')),
    );
    // The access-log line then joins the request id to the eventId every later line carries.
    noteEventId(res, accepted.eventId);
    res.status(202).json(accepted);
  });

  router.post('/like', intakeKey, requireJson, json, async (req, res) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, 'validation_failed', 'the request body is not a valid event', {
        details: [{ field: '(body)', message: 'an event must be a JSON object' }],
      });
    }
    // The legacy body may omit "type"; anything but LIKE is still refused by the schema.
    const event = { type: 'LIKE', ...body };
    const accepted = await acceptEvent(
      forRequest(deps, requestIdOf(res)),
      event,
      idempotencyKeyOf(req.get('Idempotency-Key')),
    );
    noteEventId(res, accepted.eventId);
    res.status(202).json(accepted);
  });

  return router;
}
