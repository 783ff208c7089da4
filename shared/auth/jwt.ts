import {
  SignJWT,
  createLocalJWKSet,
  errors,
  importSPKI,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import { idSchema } from '../schemas/event.js';
import type { TokenRules } from './key-source.js';

/**
 * User tokens: JWTs whose `sub` is the userId, the one credential of both the socket (AUTH
 * frame) and the HTTP read API. A token is accepted only if it is signed by the configured key
 * with one of that key's algorithms, carries `exp` within JWT_MAX_LIFETIME_SECONDS, matches
 * JWT_ISSUER / JWT_AUDIENCE when set, and its `sub` is a valid id (docs/security.md "Tokens").
 * Signing (HS256 only) lives here too, so seed and tests mint exactly what is verified.
 */

/** Why a token was refused, stable and free of token content: safe in a close reason or a 401. */
export type InvalidTokenDetail =
  | 'expired'
  | 'malformed'
  | 'algorithm'
  | 'signature'
  | 'unknown-key'
  | 'exp-missing'
  | 'lifetime'
  | 'not-yet-valid'
  | 'issuer'
  | 'audience'
  | 'subject'
  | 'claims';

export class InvalidTokenError extends Error {
  readonly reason: 'expired' | 'invalid';
  constructor(readonly detail: InvalidTokenDetail) {
    super(detail === 'expired' ? 'token expired' : `token invalid (${detail})`);
    this.name = 'InvalidTokenError';
    this.reason = detail === 'expired' ? 'expired' : 'invalid';
  }
}

export interface VerifiedToken {
  userId: string;
  /** Epoch ms from which this verifier refuses the token: `exp` plus the clock tolerance. */
  validUntilMs: number;
}

export interface TokenVerifier {
  /** Resolves to the token's user, or rejects with InvalidTokenError (never with a library error). */
  verify(token: string): Promise<VerifiedToken>;
}

/** `claims` carries JWT_ISSUER / JWT_AUDIENCE when they are set, so the token passes them. */
export async function signUserToken(
  userId: string,
  secret: string,
  ttlSeconds = 3600,
  claims: { issuer?: string | undefined; audience?: string | undefined } = {},
): Promise<string> {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (claims.issuer !== undefined) jwt.setIssuer(claims.issuer);
  if (claims.audience !== undefined) jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

/**
 * Built once per process at bootstrap: the key is imported here, not per token (a JWKS imports
 * each key the first time a token names it and keeps it).
 */
export async function createTokenVerifier(auth: { jwtSecret: string; token: TokenRules }): Promise<TokenVerifier> {
  const rules = auth.token;
  const options: JWTVerifyOptions = {
    algorithms: rules.algorithms,
    requiredClaims: ['exp'],
    issuer: rules.issuer,
    audience: rules.audience,
    clockTolerance: rules.clockToleranceSeconds,
  };
  const source = rules.key;
  let verifySignature: (token: string) => Promise<JWTPayload>;
  if (source.kind === 'jwks') {
    const keys = createLocalJWKSet(source.jwks);
    verifySignature = async (token) => (await jwtVerify(token, keys, options)).payload;
  } else {
    const key =
      source.kind === 'public-key'
        ? await importSPKI(source.pem, source.algorithm)
        : new TextEncoder().encode(auth.jwtSecret);
    verifySignature = async (token) => (await jwtVerify(token, key, options)).payload;
  }
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        payload = await verifySignature(token);
      } catch (err) {
        throw new InvalidTokenError(detailOf(err));
      }
      // jose has checked that `exp` is present, a number, and not past (with the tolerance).
      const exp = payload.exp as number;
      checkLifetime(exp, payload.iat, rules);
      return { userId: subjectOf(payload), validUntilMs: (exp + rules.clockToleranceSeconds) * 1000 };
    },
  };
}

/**
 * A stolen token is useful until its `exp`: a far one (or none) makes it a password. `exp` may
 * be at most JWT_MAX_LIFETIME_SECONDS ahead (plus the tolerance, for an issuer whose clock runs
 * ahead), and `exp - iat` at most that when `iat` is given.
 */
function checkLifetime(exp: number, iat: number | undefined, rules: TokenRules): void {
  const now = Date.now() / 1000;
  if (exp - now > rules.maxLifetimeSeconds + rules.clockToleranceSeconds) throw new InvalidTokenError('lifetime');
  if (iat === undefined) return;
  if (exp - iat > rules.maxLifetimeSeconds) throw new InvalidTokenError('lifetime');
  if (iat > now + rules.clockToleranceSeconds) throw new InvalidTokenError('not-yet-valid');
}

/** The subject becomes Redis keys and MongoDB queries: it follows the id rule of every other id. */
function subjectOf(payload: JWTPayload): string {
  const sub = payload.sub;
  if (typeof sub !== 'string' || idSchema.validate(sub, { convert: false }).error)
    throw new InvalidTokenError('subject');
  return sub;
}

function detailOf(err: unknown): InvalidTokenDetail {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature';
  // Without a `kid`, a JWKS with several keys of the token's algorithm cannot pick one: refused.
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return 'unknown-key';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'exp') return err.reason === 'missing' ? 'exp-missing' : 'claims';
    if (err.claim === 'nbf') return 'not-yet-valid';
    if (err.claim === 'iss') return 'issuer';
    if (err.claim === 'aud') return 'audience';
    return 'claims';
  }
  return 'malformed';
}
