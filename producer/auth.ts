import type { RequestHandler } from 'express';
import { InvalidTokenError, type TokenVerifier } from '../shared/auth/jwt.js';
import type { Config } from '../shared/config.js';
import { HttpError } from './http-errors.js';

/**
 * The read API uses the socket's credential: a bearer JWT whose `sub` is the userId. In the
 * explicit dev mode (WS_AUTH_MODE=dev) requests are open; a token, if sent, is still honoured.
 * `res.locals.userId` is the caller, or undefined in dev mode without a token.
 */

export function callerOf(locals: Record<string, unknown>): string | undefined {
  return typeof locals.userId === 'string' ? locals.userId : undefined;
}

export function authenticate(config: Pick<Config, 'auth'>, tokens: TokenVerifier): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization');
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match?.[1]) {
      if (config.auth.mode === 'dev' && !header) return next();
      return next(new HttpError(401, 'unauthorized', 'send Authorization: Bearer <JWT whose sub is your userId>'));
    }
    // Per request, so a token past its `exp` is refused from that moment on.
    tokens.verify(match[1]).then(
      ({ userId }) => {
        res.locals.userId = userId;
        next();
      },
      (err: unknown) => {
        next(new HttpError(401, 'unauthorized', err instanceof InvalidTokenError ? err.message : 'token invalid'));
      },
    );
  };
}

/** For /users/:userId/...: the token's user must be the path's user. */
export const requireSameUser: RequestHandler = (req, res, next) => {
  const caller = callerOf(res.locals);
  if (caller !== undefined && caller !== req.params.userId) {
    return next(new HttpError(403, 'forbidden', "a token can only read its own user's notifications"));
  }
  next();
};
