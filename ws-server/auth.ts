import { InvalidTokenError, verifyUserToken } from '../shared/auth/jwt.js';
import type { Config } from '../shared/config.js';

/**
 * Who the socket belongs to. Token mode (the default) trusts only a valid HS256 JWT; dev mode
 * also takes a bare userId so wscat and Postman work without minting tokens.
 */

export class AuthFailedError extends Error {
  constructor(readonly reason: 'missing' | 'expired' | 'invalid' | 'dev-mode-off') {
    super(`authentication failed: ${reason}`);
    this.name = 'AuthFailedError';
  }
}

export async function authenticate(
  frame: { token?: string; userId?: string },
  auth: Config['auth'],
): Promise<string> {
  if (frame.token !== undefined) {
    try {
      return await verifyUserToken(frame.token, auth.jwtSecret);
    } catch (err) {
      if (err instanceof InvalidTokenError) throw new AuthFailedError(err.reason);
      throw err;
    }
  }
  if (frame.userId !== undefined) {
    if (auth.mode !== 'dev') throw new AuthFailedError('dev-mode-off');
    return frame.userId;
  }
  throw new AuthFailedError('missing');
}
