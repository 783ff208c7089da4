import { InvalidTokenError, type InvalidTokenDetail, type TokenVerifier } from '../shared/auth/jwt.js';
import type { AuthMode } from '../shared/config.js';

/**
 * Who the socket belongs to. Token mode (the default) trusts only a valid JWT (shared/auth/jwt.ts);
 * dev mode also takes a bare userId so wscat and Postman work without minting tokens.
 */

export class AuthFailedError extends Error {
  constructor(
    readonly reason: 'missing' | 'expired' | 'invalid' | 'dev-mode-off',
    detail?: InvalidTokenDetail,
  ) {
    super(`authentication failed: ${reason}${detail && detail !== reason ? ` (${detail})` : ''}`);
    this.name = 'AuthFailedError';
  }
}

export interface SocketIdentity {
  userId: string;
  /** When the socket's token stops being valid (epoch ms); a bare dev-mode userId has none. */
  validUntilMs: number | undefined;
}

export async function authenticate(
  frame: { token?: string; userId?: string },
  mode: AuthMode,
  tokens: TokenVerifier,
): Promise<SocketIdentity> {
  if (frame.token !== undefined) {
    try {
      return await tokens.verify(frame.token);
    } catch (err) {
      if (err instanceof InvalidTokenError) throw new AuthFailedError(err.reason, err.detail);
      throw err;
    }
  }
  if (frame.userId !== undefined) {
    if (mode !== 'dev') throw new AuthFailedError('dev-mode-off');
    return { userId: frame.userId, validUntilMs: undefined };
  }
  throw new AuthFailedError('missing');
}
