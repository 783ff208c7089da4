import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JSONWebKeySet, JWK } from 'jose';

/**
 * Which key verifies user tokens, read and checked once at start-up (loadConfig) so a bad key
 * is a ConfigError naming its variable, not a refused token at the first AUTH. Exactly one
 * source: JWT_SECRET (HS256), JWT_PUBLIC_KEY (one PEM SPKI key) or JWT_JWKS_FILE (a JWKS, keys
 * picked by `kid`). Each source allows only the algorithms of its key type: a public key never
 * verifies HS256 (the key-confusion attack signs HS256 with the public key's PEM as secret) and
 * `none` is never allowed.
 */

export const TOKEN_ALGORITHMS = ['HS256', 'RS256', 'ES256'] as const;
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];
export type AsymmetricAlgorithm = Exclude<TokenAlgorithm, 'HS256'>;

export type TokenKeySource =
  /** The secret itself stays in `auth.jwtSecret`, the field the logger redacts. */
  | { kind: 'secret' }
  | { kind: 'public-key'; pem: string; algorithm: AsymmetricAlgorithm }
  | { kind: 'jwks'; jwks: JSONWebKeySet };

export interface TokenRules {
  key: TokenKeySource;
  /** The `alg` values a token may carry: those of the configured key(s), JWT_ALGORITHMS narrows them. */
  algorithms: TokenAlgorithm[];
  issuer: string | undefined;
  audience: string | undefined;
  maxLifetimeSeconds: number;
  clockToleranceSeconds: number;
}

export interface KeySourceEnv {
  JWT_SECRET?: string;
  JWT_PUBLIC_KEY?: string;
  JWT_JWKS_FILE?: string;
  JWT_ALGORITHMS?: string;
}

export type KeySourceResult =
  { ok: true; key: TokenKeySource; algorithms: TokenAlgorithm[] } | { ok: false; problems: string[] };

/** RS256 below 2048 bits is refused by jose at the first token; refuse it at start-up instead. */
const MIN_RSA_BITS = 2048;

export function readKeySource(env: KeySourceEnv): KeySourceResult {
  const set = (['JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_JWKS_FILE'] as const).filter((name) => env[name] !== undefined);
  if (set.length > 1) {
    return {
      ok: false,
      problems: [
        `${set.join(' / ')}: tokens are verified with exactly one key source; set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_FILE`,
      ],
    };
  }
  const source =
    env.JWT_PUBLIC_KEY !== undefined
      ? publicKeySource(env.JWT_PUBLIC_KEY)
      : env.JWT_JWKS_FILE !== undefined
        ? jwksSource(env.JWT_JWKS_FILE)
        : secretSource();
  if (!source.ok) return source;
  return narrowAlgorithms(source, env.JWT_ALGORITHMS, set[0] ?? 'JWT_SECRET');
}

function secretSource(): KeySourceResult {
  return { ok: true, key: { kind: 'secret' }, algorithms: ['HS256'] };
}

function publicKeySource(raw: string): KeySourceResult {
  const fail = (why: string): KeySourceResult => ({ ok: false, problems: [`JWT_PUBLIC_KEY: ${why}`] });
  // Railway variables and .env lines are one line: a PEM pasted there often carries literal "\n".
  const pem = raw.replace(/\\n/g, '\n').trim();
  if (/PRIVATE KEY/.test(pem))
    return fail('holds a private key; give the public key only (PEM SPKI, "-----BEGIN PUBLIC KEY-----")');
  if (!pem.startsWith('-----BEGIN PUBLIC KEY-----'))
    return fail('not a PEM SPKI public key (expected "-----BEGIN PUBLIC KEY-----")');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    return fail('not a readable PEM public key');
  }
  const algorithm = algorithmOf(key);
  if (typeof algorithm !== 'string') return fail(algorithm.problem);
  return { ok: true, key: { kind: 'public-key', pem, algorithm }, algorithms: [algorithm] };
}

function jwksSource(path: string): KeySourceResult {
  const fail = (why: string): KeySourceResult => ({ ok: false, problems: [`JWT_JWKS_FILE: ${why}`] });
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code ? `cannot read ${path} (${code})` : `${path} is not JSON`);
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return fail(`${path} is not a JWKS (expected {"keys": [...]})`);
  const usable: JWK[] = [];
  const skipped: string[] = [];
  const algorithms = new Set<AsymmetricAlgorithm>();
  for (const [i, jwk] of (keys as JWK[]).entries()) {
    if (typeof jwk !== 'object' || jwk === null) return fail(`key ${i} is not an object`);
    const name = `key ${typeof jwk.kid === 'string' ? JSON.stringify(jwk.kid) : i}`;
    // A verifier needs no private material, and a file of secrets must not sit on every server.
    if (jwk.kty === 'oct')
      return fail(`${name} is a symmetric key; HS256 tokens use JWT_SECRET, the JWKS holds public keys`);
    if (jwk.d !== undefined) return fail(`${name} holds private key material ("d"); publish the public keys only`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as never, format: 'jwk' });
    } catch {
      return fail(`${name} is not a readable public key`);
    }
    // An auth server's JWKS often also holds encryption keys or keys of other algorithms: they
    // are left out (a token naming one finds no key), and only a file with none left is refused.
    const algorithm = algorithmOf(key);
    if (typeof algorithm !== 'string') skipped.push(`${name} is ${algorithm.problem}`);
    else if (jwk.use !== undefined && jwk.use !== 'sig')
      skipped.push(`${name} is for "use": ${JSON.stringify(jwk.use)}`);
    else if (jwk.alg !== undefined && jwk.alg !== algorithm) skipped.push(`${name} is for ${jwk.alg}`);
    else {
      usable.push(jwk);
      algorithms.add(algorithm);
    }
  }
  if (usable.length === 0) {
    return fail(
      `${path} has no RS256 (RSA) or ES256 (EC P-256) signing key${skipped.length ? ` (${skipped.join('; ')})` : ''}`,
    );
  }
  return { ok: true, key: { kind: 'jwks', jwks: { keys: usable } }, algorithms: [...algorithms] };
}

function algorithmOf(key: KeyObject): AsymmetricAlgorithm | { problem: string } {
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits >= MIN_RSA_BITS
      ? 'RS256'
      : { problem: `an RSA key of ${bits} bits; RS256 needs at least ${MIN_RSA_BITS}` };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'prime256v1'
      ? 'ES256'
      : { problem: `an EC key on ${curve ?? 'an unknown curve'}; ES256 needs P-256` };
  }
  return {
    problem: `an unsupported key type (${key.asymmetricKeyType ?? 'unknown'}); RS256 (RSA) and ES256 (EC P-256) keys are supported`,
  };
}

/** JWT_ALGORITHMS may only narrow what the key allows: it cannot add HS256 to a public key. */
function narrowAlgorithms(
  source: Extract<KeySourceResult, { ok: true }>,
  raw: string | undefined,
  keyVariable: string,
): KeySourceResult {
  if (raw === undefined) return source;
  const wanted = raw
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const unknown = wanted.filter((a) => !(TOKEN_ALGORITHMS as readonly string[]).includes(a));
  if (unknown.length > 0) {
    return {
      ok: false,
      problems: [`JWT_ALGORITHMS: ${unknown.join(', ')} not supported; use ${TOKEN_ALGORITHMS.join(', ')}`],
    };
  }
  const mismatched = wanted.filter((a) => !(source.algorithms as string[]).includes(a));
  if (mismatched.length > 0 || wanted.length === 0) {
    return {
      ok: false,
      problems: [
        `JWT_ALGORITHMS: ${mismatched.join(', ') || '(empty)'} does not match the key of ${keyVariable}, which allows ${source.algorithms.join(', ')}`,
      ],
    };
  }
  return { ...source, algorithms: wanted as TokenAlgorithm[] };
}
