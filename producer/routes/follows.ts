import express, { Router, type Request, type RequestHandler } from 'express';
import Joi from 'joi';
import type { TokenVerifier } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config.js';
import { noteEventId, requestIdOf } from '../../shared/http/request-log.js';
import type { Models } from '../../shared/models/index.js';
import { idSchema } from '../../shared/schemas/event.js';
import { fieldProblems, NO_VALUE_MESSAGES } from '../../shared/schemas/no-value-messages.js';
import { protoKeyProblem } from '../../shared/schemas/proto-key.js';
import { forRequest, idempotencyKeyOf, type AcceptDeps } from '../accept-event.js';
import { authenticate, callerOf, requireSameUser } from '../auth.js';
import { follow, mute, unfollow } from '../follows/edges.js';
import { listFollowers, listFollowing } from '../follows/pages.js';
import { HttpError, requireJson } from '../http-errors.js';

export interface FollowsRouterDeps {
  config: Pick<Config, 'auth'>;
  tokens: TokenVerifier;
  models: Models;
  /** producer/intake-key.ts: following notifies another user; unfollowing changes what reaches them. */
  intakeKey: RequestHandler;
  accept: AcceptDeps;
}

export const FOLLOWS_MAX_LIMIT = 200;

// The event ids' rule (follows publish FOLLOW and UNFOLLOW events about these users).
const id = idSchema;
// The 400 answer's messages say which pattern a field fails, never what it held (docs/security.md).
const userParams = Joi.object({ userId: id.required() }).messages(NO_VALUE_MESSAGES);
const edgeParams = Joi.object({ userId: id.required(), targetId: id.required() }).messages(NO_VALUE_MESSAGES);
const followBody = Joi.object({ targetId: id.required() }).messages(NO_VALUE_MESSAGES);
const muteBody = Joi.object({ muted: Joi.boolean().strict().required() }).messages(NO_VALUE_MESSAGES);
const pageQuery = Joi.object({
  limit: Joi.number().integer().min(1).max(FOLLOWS_MAX_LIMIT).default(50),
  after: Joi.string().max(500),
}).messages(NO_VALUE_MESSAGES);

function validate<T>(schema: Joi.ObjectSchema, input: unknown, what: string): T {
  const protoKey = protoKeyProblem(input);
  const { value, error } = schema.validate(input ?? {}, { abortEarly: false, convert: true });
  if (protoKey || error) {
    const details = protoKey ? [protoKey] : error ? fieldProblems(error) : [];
    throw new HttpError(400, 'validation_failed', `invalid ${what}`, { details });
  }
  return value as T;
}

/**
 * The follow graph over HTTP. Following and unfollowing are the application's backend mirroring
 * its own social graph, as a FOLLOW or UNFOLLOW event on POST /events does: they send the
 * followed user a notification (or change whom the actor's posts reach), so they take the intake
 * API key, for any :userId. Muting is the follower's own notification setting, like
 * preferences: it needs that user's token (dev mode: open). Reading anyone's followers or
 * following needs any valid token.
 */
export function followsRouter(deps: FollowsRouterDeps): Router {
  const router = Router();
  const auth = authenticate(deps.config, deps.tokens);
  const json = express.json({ limit: '4kb' });
  const followDeps = { ...deps.accept, follows: deps.models.Follow };

  router.post('/users/:userId/follows', deps.intakeKey, requireJson, json, async (req, res) => {
    const { userId } = validate<{ userId: string }>(userParams, req.params, 'path');
    const { targetId } = validate<{ targetId: string }>(followBody, req.body, 'request body');
    const result = await follow(
      forRequest(followDeps, requestIdOf(res)),
      userId,
      targetId,
      idempotencyKeyOf(req.get('Idempotency-Key')),
    );
    if (result.eventId !== null) noteEventId(res, result.eventId);
    res.status(result.created ? 201 : 200).json({ ...result.edge, eventId: result.eventId });
  });

  router.put('/users/:userId/follows/:targetId', auth, requireSameUser, requireJson, json, async (req, res) => {
    const { userId, targetId } = validate<{ userId: string; targetId: string }>(edgeParams, req.params, 'path');
    const { muted } = validate<{ muted: boolean }>(muteBody, req.body, 'request body');
    res.json(await mute(followDeps, userId, targetId, muted));
  });

  router.delete('/users/:userId/follows/:targetId', deps.intakeKey, async (req, res) => {
    const { userId, targetId } = validate<{ userId: string; targetId: string }>(edgeParams, req.params, 'path');
    const removed = await unfollow(
      forRequest(followDeps, requestIdOf(res)),
      userId,
      targetId,
      idempotencyKeyOf(req.get('Idempotency-Key')),
    );
    noteEventId(res, removed.eventId);
    res.json(removed);
  });

  const pageOf = (req: Request) => ({
    ...validate<{ userId: string }>(userParams, req.params, 'path'),
    ...validate<{ limit: number; after?: string }>(pageQuery, req.query, 'query'),
  });

  router.get('/users/:userId/followers', auth, async (req, res) => {
    res.json(await listFollowers(deps.models.Follow, pageOf(req)));
  });

  router.get('/users/:userId/following', auth, async (req, res) => {
    const q = pageOf(req);
    const caller = callerOf(res.locals);
    // Mutes are private to the follower: shown to that user only (and in open dev mode).
    res.json(await listFollowing(deps.models.Follow, q, caller === undefined || caller === q.userId));
  });

  return router;
}
