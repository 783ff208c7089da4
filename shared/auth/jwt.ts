import { SignJWT, errors, jwtVerify } from 'jose';

/**
 * HS256 tokens whose `sub` is the userId: the one credential of both the socket (AUTH frame)
 * and the HTTP read API. Signing lives here too so seed and tests mint exactly what is verified.
 */

export class InvalidTokenError extends Error {
  constructor(readonly reason: 'expired' | 'invalid') {
    super(reason === 'expired' ? 'token expired' : 'token invalid');
    this.name = 'InvalidTokenError';
  }
}

const ALGORITHM = 'HS256';

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

export async function signUserToken(userId: string, secret: string, ttlSeconds = 3600): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: ALGORITHM })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(key(secret));
}

/** Resolves to the userId, or rejects with InvalidTokenError (never with a library error). */
export async function verifyUserToken(token: string, secret: string): Promise<string> {
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: [ALGORITHM] });
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new InvalidTokenError('invalid');
    return payload.sub;
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    throw new InvalidTokenError(err instanceof errors.JWTExpired ? 'expired' : 'invalid');
  }
}
