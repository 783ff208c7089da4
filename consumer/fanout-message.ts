import Joi from 'joi';
import { clipped } from '../shared/client-text.js';
import { eventIdSchema } from '../shared/schemas/event.js';
import { PoisonMessageError } from './parse-event.js';

/**
 * One page of a fan-out, consumer → consumer on topology.fanoutQueue: "notify the followers of
 * actorId after `after` (in followerId order) about this POST". Page n+1 is published by the
 * consumer that runs page n, so no process ever holds more than one page of followers.
 */
export interface FanoutPage {
  /** The POST event being fanned out. */
  eventId: string;
  actorId: string;
  postId: string;
  /** 0 for the first page; deterministic, so marks per (eventId, page) recognise copies. */
  page: number;
  /** The last followerId of the previous page; null for the first page. */
  after: string | null;
  /** When the producer accepted the POST (epoch ms), for the buffer-latency metric. */
  acceptedAtMs?: number;
}

const pageSchema = Joi.object({
  eventId: eventIdSchema.required(),
  actorId: Joi.string().min(1).max(128).required(),
  postId: Joi.string().min(1).max(128).required(),
  page: Joi.number().integer().min(0).required(),
  after: Joi.string().min(1).max(256).allow(null).required(),
  acceptedAtMs: Joi.number().integer().min(0),
});

export function parseFanoutPage(content: Buffer): FanoutPage {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    // Not the parser's message: it quotes the body, and the reason is logged and sent as a header.
    throw new PoisonMessageError('invalid_json', 'the fan-out page is not JSON');
  }
  const { value, error } = pageSchema.validate(body, { abortEarly: false });
  // Field names and rules only: Joi's messages may quote values.
  if (error)
    throw new PoisonMessageError(
      'invalid_event',
      `fan-out page: ${error.details.map((d) => `${clipped(d.path.join('.') || '(body)')} (${d.type})`).join('; ')}`,
    );
  return value as FanoutPage;
}
