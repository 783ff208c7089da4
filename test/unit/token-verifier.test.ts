import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import {
  createTokenVerifier,
  InvalidTokenError,
  signUserToken,
  type InvalidTokenDetail,
  type TokenVerifier,
} from '../../shared/auth/jwt.js';
import { loadConfig } from '../../shared/config.js';

const SECRET = 'unit-test-secret-that-is-long-enough-0123456789';
const now = () => Math.floor(Date.now() / 1000);

async function verifierFor(env: Record<string, string>): Promise<TokenVerifier> {
  return createTokenVerifier(loadConfig(env).auth);
}

async function refusal(verifier: TokenVerifier, token: string): Promise<InvalidTokenDetail> {
  try {
    await verifier.verify(token);
  } catch (err) {
    assert.ok(err instanceof InvalidTokenError, `an InvalidTokenError, not ${String(err)}`);
    return err.detail;
  }
  assert.fail('the token was accepted');
}

/** A JWT with exactly these claims (nothing added), signed with `key`. */
function sign(claims: JWTPayload, alg: string, key: CryptoKey | Uint8Array, kid?: string): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(key);
}
const secretKey = new TextEncoder().encode(SECRET);
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

describe('token verifier: HS256 with JWT_SECRET', () => {
  let verifier: TokenVerifier;
  before(async () => {
    verifier = await verifierFor({
      JWT_SECRET: SECRET,
      JWT_MAX_LIFETIME_SECONDS: '3600',
      JWT_CLOCK_TOLERANCE_SECONDS: '5',
    });
  });

  it('accepts a token of the seed and tests, valid until exp plus the tolerance', async () => {
    const verified = await verifier.verify(await signUserToken('user-1@example.com', SECRET, 600));
    assert.equal(verified.userId, 'user-1@example.com');
    assert.ok(Math.abs(verified.validUntilMs - (now() + 600 + 5) * 1000) <= 2000, String(verified.validUntilMs));
  });

  it('refuses a token without exp', async () => {
    assert.equal(await refusal(verifier, await sign({ sub: 'alice', iat: now() }, 'HS256', secretKey)), 'exp-missing');
  });

  it('refuses an exp further ahead than JWT_MAX_LIFETIME_SECONDS', async () => {
    assert.equal(
      await refusal(verifier, await sign({ sub: 'alice', exp: now() + 7200 }, 'HS256', secretKey)),
      'lifetime',
    );
    // Within the lifetime from now, but issued for longer than it.
    assert.equal(
      await refusal(verifier, await sign({ sub: 'alice', iat: now() - 3600, exp: now() + 60 }, 'HS256', secretKey)),
      'lifetime',
    );
    assert.equal(
      (await verifier.verify(await sign({ sub: 'alice', exp: now() + 3600 }, 'HS256', secretKey))).userId,
      'alice',
    );
  });

  it('refuses an expired token as expired, and one issued in the future', async () => {
    const expired = await refusal(verifier, await sign({ sub: 'alice', exp: now() - 10 }, 'HS256', secretKey));
    assert.equal(expired, 'expired');
    assert.equal(
      await refusal(verifier, await sign({ sub: 'alice', iat: now() + 60, exp: now() + 120 }, 'HS256', secretKey)),
      'not-yet-valid',
    );
  });

  it('honours the clock tolerance for exp', async () => {
    assert.equal(
      (await verifier.verify(await sign({ sub: 'alice', exp: now() - 2 }, 'HS256', secretKey))).userId,
      'alice',
    );
  });

  it('refuses a sub that breaks the id rules', async () => {
    for (const sub of ['../atkB', '', ' alice', 'a'.repeat(129), 'al/ice', 'ali ce']) {
      assert.equal(
        await refusal(verifier, await sign({ sub, exp: now() + 60 }, 'HS256', secretKey)),
        'subject',
        JSON.stringify(sub),
      );
    }
    assert.equal(await refusal(verifier, await sign({ exp: now() + 60 }, 'HS256', secretKey)), 'subject');
    assert.equal(
      await refusal(verifier, await sign({ sub: 42 as unknown as string, exp: now() + 60 }, 'HS256', secretKey)),
      'subject',
    );
  });

  it('refuses alg:none, another secret and garbage', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'alice', exp: now() + 60 })).toString('base64url');
    assert.equal(await refusal(verifier, `${header}.${body}.`), 'algorithm');
    assert.equal(
      await refusal(verifier, await signUserToken('alice', 'another-secret-that-is-long-enough-0123456789')),
      'signature',
    );
    assert.equal(await refusal(verifier, 'not.a.jwt'), 'malformed');
  });
});

describe('token verifier: JWT_ISSUER and JWT_AUDIENCE', () => {
  it('requires both when set, and signUserToken can carry them', async () => {
    const verifier = await verifierFor({
      JWT_SECRET: SECRET,
      JWT_ISSUER: 'https://auth.example',
      JWT_AUDIENCE: 'notifications',
    });
    const exp = now() + 60;
    const right = { issuer: 'https://auth.example', audience: 'notifications' };
    assert.equal((await verifier.verify(await signUserToken('alice', SECRET, 60, right))).userId, 'alice');
    assert.equal(
      await refusal(verifier, await sign({ sub: 'alice', exp, aud: 'notifications' }, 'HS256', secretKey)),
      'issuer',
    );
    assert.equal(
      await refusal(
        verifier,
        await sign({ sub: 'alice', exp, iss: 'https://evil.example', aud: 'notifications' }, 'HS256', secretKey),
      ),
      'issuer',
    );
    assert.equal(
      await refusal(verifier, await sign({ sub: 'alice', exp, iss: 'https://auth.example' }, 'HS256', secretKey)),
      'audience',
    );
    assert.equal(
      await refusal(
        verifier,
        await sign({ sub: 'alice', exp, iss: 'https://auth.example', aud: 'billing' }, 'HS256', secretKey),
      ),
      'audience',
    );
  });
});

describe('token verifier: RS256 and ES256 public keys', () => {
  let rsa: KeyPair;
  let ec: KeyPair;
  let rsaPem: string;
  before(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    rsaPem = await exportSPKI(rsa.publicKey);
  });

  it('accepts an RS256 token with JWT_PUBLIC_KEY (PEM SPKI), also pasted with literal \\n', async () => {
    const token = await sign({ sub: 'alice', exp: now() + 60 }, 'RS256', rsa.privateKey);
    assert.equal((await (await verifierFor({ JWT_PUBLIC_KEY: rsaPem })).verify(token)).userId, 'alice');
    assert.equal(
      (await (await verifierFor({ JWT_PUBLIC_KEY: rsaPem.replace(/\n/g, '\\n') })).verify(token)).userId,
      'alice',
    );
  });

  it('accepts an ES256 token with an EC P-256 JWT_PUBLIC_KEY', async () => {
    const verifier = await verifierFor({ JWT_PUBLIC_KEY: await exportSPKI(ec.publicKey) });
    assert.equal(
      (await verifier.verify(await sign({ sub: 'bob', exp: now() + 60 }, 'ES256', ec.privateKey))).userId,
      'bob',
    );
    // Another EC key's signature, and an RS256 token, are not this key's.
    const other = await generateKeyPair('ES256');
    assert.equal(
      await refusal(verifier, await sign({ sub: 'bob', exp: now() + 60 }, 'ES256', other.privateKey)),
      'signature',
    );
    assert.equal(
      await refusal(verifier, await sign({ sub: 'bob', exp: now() + 60 }, 'RS256', rsa.privateKey)),
      'algorithm',
    );
  });

  it('refuses HS256 signed with the public key PEM as secret (key confusion), and alg:none', async () => {
    const verifier = await verifierFor({ JWT_PUBLIC_KEY: rsaPem });
    for (const pem of [rsaPem, rsaPem.trim()]) {
      const forged = await sign({ sub: 'alice', exp: now() + 60 }, 'HS256', new TextEncoder().encode(pem));
      assert.equal(await refusal(verifier, forged), 'algorithm');
    }
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'alice', exp: now() + 60 })).toString('base64url');
    assert.equal(await refusal(verifier, `${header}.${body}.`), 'algorithm');
  });

  it('applies the same claim rules as HS256: exp, lifetime, sub', async () => {
    const verifier = await verifierFor({ JWT_PUBLIC_KEY: rsaPem });
    assert.equal(await refusal(verifier, await sign({ sub: 'alice' }, 'RS256', rsa.privateKey)), 'exp-missing');
    assert.equal(
      await refusal(verifier, await sign({ sub: 'alice', exp: now() + 2 * 86400 }, 'RS256', rsa.privateKey)),
      'lifetime',
    );
    assert.equal(
      await refusal(verifier, await sign({ sub: '../atkB', exp: now() + 60 }, 'RS256', rsa.privateKey)),
      'subject',
    );
    assert.equal(
      await refusal(verifier, await sign({ sub: 'alice', exp: now() - 120 }, 'RS256', rsa.privateKey)),
      'expired',
    );
  });
});

describe('token verifier: JWT_JWKS_FILE', () => {
  let dir: string;
  let first: KeyPair;
  let second: KeyPair;
  let file: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jwks-'));
    first = await generateKeyPair('RS256', { extractable: true });
    second = await generateKeyPair('ES256', { extractable: true });
    const third = await generateKeyPair('RS256', { extractable: true });
    file = join(dir, 'jwks.json');
    const keys = [
      { ...(await exportJWK(first.publicKey)), kid: 'rsa-2024', use: 'sig' },
      { ...(await exportJWK(second.publicKey)), kid: 'ec-2025' },
      { ...(await exportJWK(third.publicKey)), kid: 'rsa-2025', alg: 'RS256' },
    ];
    writeFileSync(file, JSON.stringify({ keys }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('picks the key by kid; an unknown kid is refused', async () => {
    const verifier = await verifierFor({ JWT_JWKS_FILE: file });
    const claims = { sub: 'alice', exp: now() + 60 };
    assert.equal((await verifier.verify(await sign(claims, 'RS256', first.privateKey, 'rsa-2024'))).userId, 'alice');
    assert.equal((await verifier.verify(await sign(claims, 'ES256', second.privateKey, 'ec-2025'))).userId, 'alice');
    // ES256 has one key in the file: a token without kid finds it.
    assert.equal((await verifier.verify(await sign(claims, 'ES256', second.privateKey))).userId, 'alice');
    assert.equal(await refusal(verifier, await sign(claims, 'RS256', first.privateKey, 'rsa-1999')), 'unknown-key');
    // RS256 has two: without kid the verifier cannot pick one.
    assert.equal(await refusal(verifier, await sign(claims, 'RS256', first.privateKey)), 'unknown-key');
    // The right kid with the wrong key's signature.
    assert.equal(await refusal(verifier, await sign(claims, 'RS256', first.privateKey, 'rsa-2025')), 'signature');
  });

  it('refuses HS256 signed with a key of the file as secret', async () => {
    const verifier = await verifierFor({ JWT_JWKS_FILE: file });
    const forged = await sign(
      { sub: 'alice', exp: now() + 60 },
      'HS256',
      new TextEncoder().encode(JSON.stringify(await exportJWK(first.publicKey))),
      'rsa-2024',
    );
    assert.equal(await refusal(verifier, forged), 'algorithm');
  });

  it('JWT_ALGORITHMS narrows the file to ES256', async () => {
    const verifier = await verifierFor({ JWT_JWKS_FILE: file, JWT_ALGORITHMS: 'ES256' });
    assert.equal(
      await refusal(verifier, await sign({ sub: 'alice', exp: now() + 60 }, 'RS256', first.privateKey, 'rsa-2024')),
      'algorithm',
    );
  });
});
