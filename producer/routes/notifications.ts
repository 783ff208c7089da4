import { Router, type Request } from 'express';
import Joi from 'joi';
import type { Redis } from '../../shared/redis.js';
import type { TokenVerifier } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config.js';
import { NOTIFICATION_STATUSES, type Models } from '../../shared/models/index.js';
import { fieldProblems, NO_VALUE_MESSAGES } from '../../shared/schemas/no-value-messages.js';
import type { ReadAllBody, ReadBody, TimelineBody, UnreadCountBody } from '../../shared/protocol/http.js';
import { authenticate, callerOf, requireSameUser } from '../auth.js';
import { HttpError } from '../http-errors.js';
import { HISTORY_UNREAD, historyPage, unreadCount, type HistoryStatus } from '../notifications/history.js';
import { markAllRead, markRead } from '../notifications/read.js';
import { timelineOf } from '../notifications/timeline.js';
import type { UnreadSignal } from '../notifications/unread-signal.js';

export interface NotificationsRouterDeps {
  config: Pick<Config, 'auth' | 'pipeline' | 'mongo' | 'redis'>;
  tokens: TokenVerifier;
  models: Models;
  redis: Redis;
  /** Announces a changed unread count to the ws-servers; none (tests of the API alone) announces nothing. */
  unreadChanged?: UnreadSignal;
}

export const HISTORY_MAX_LIMIT = 100;

const id = Joi.string()
  .min(1)
  .max(200)
  .pattern(/^[\w.:@-]+$/);
// The 400 answer's messages say which pattern a field fails, never what it held (docs/security.md).
const userParams = Joi.object({ userId: id.required() }).messages(NO_VALUE_MESSAGES);
const idParams = Joi.object({ id: id.required() }).messages(NO_VALUE_MESSAGES);
const historyQuery = Joi.object({
  limit: Joi.number().integer().min(1).max(HISTORY_MAX_LIMIT).default(20),
  before: Joi.string().max(500),
  // 'unread': undelivered or delivered, the notifications the unread count counts (shared/unread.ts).
  status: Joi.string().valid(...NOTIFICATION_STATUSES, HISTORY_UNREAD),
}).messages(NO_VALUE_MESSAGES);

function validate<T>(schema: Joi.ObjectSchema, input: unknown): T {
  const { value, error } = schema.validate(input, { abortEarly: false, convert: true });
  if (error) {
    throw new HttpError(400, 'validation_failed', 'invalid request', {
      details: fieldProblems(error, '(query)'),
    });
  }
  return value as T;
}

/** Express 5 forwards rejected promises to the error handler, so handlers may just throw. */
export function notificationsRouter(deps: NotificationsRouterDeps): Router {
  const { models, redis } = deps;
  const announce = deps.unreadChanged ?? (async () => undefined);
  const ttlSeconds = deps.config.pipeline.bufferTtlSeconds;
  const batchTimeoutMs = deps.config.mongo.batchTimeoutMs;
  const keyPrefix = deps.config.redis.keyPrefix;
  const router = Router();
  const auth = authenticate(deps.config, deps.tokens);
  const params = <T>(schema: Joi.ObjectSchema, req: Request) => validate<T>(schema, req.params);

  router.get('/users/:userId/notifications', auth, requireSameUser, async (req, res) => {
    const { userId } = params<{ userId: string }>(userParams, req);
    const q = validate<{ limit: number; before?: string; status?: HistoryStatus }>(historyQuery, req.query);
    res.json(await historyPage(models, { userId, ...q }));
  });

  router.get('/users/:userId/notifications/unread-count', auth, requireSameUser, async (req, res) => {
    const { userId } = params<{ userId: string }>(userParams, req);
    const { count, version } = await unreadCount(models, redis, userId);
    res.json({ userId, unread: count, version } satisfies UnreadCountBody);
  });

  router.post('/users/:userId/notifications/read-all', auth, requireSameUser, async (req, res) => {
    const { userId } = params<{ userId: string }>(userParams, req);
    const marked = await markAllRead({ models, redis, keyPrefix, ttlSeconds, batchTimeoutMs, announce }, userId);
    res.json({ userId, marked } satisfies ReadAllBody);
  });

  router.patch('/notifications/:id/read', auth, async (req, res) => {
    const { id: notificationId } = params<{ id: string }>(idParams, req);
    const outcome = await markRead(
      { models, redis, keyPrefix, ttlSeconds, batchTimeoutMs, announce },
      notificationId,
      callerOf(res.locals),
    );
    if (!outcome.found) throw new HttpError(404, 'not_found', 'no such notification');
    res.json({ id: outcome.id, status: outcome.status, readAt: outcome.readAt } satisfies ReadBody);
  });

  router.get('/notifications/:id/timeline', auth, async (req, res) => {
    const { id: notificationId } = params<{ id: string }>(idParams, req);
    const timeline = await timelineOf(models, redis, keyPrefix, notificationId, callerOf(res.locals));
    if (!timeline) throw new HttpError(404, 'not_found', 'no such notification');
    res.json(timeline satisfies TimelineBody);
  });

  return router;
}
