import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { ConfigError, loadConfig } from '../../shared/config.js';

const SECRET = 'p'.repeat(32);

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('config: token rules and key sources', () => {
  let rsaPem: string;
  let ecPem: string;
  let dir: string;
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  before(async () => {
    rsaPem = await exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey);
    ecPem = await exportSPKI((await generateKeyPair('ES256', { extractable: true })).publicKey);
    dir = mkdtempSync(join(tmpdir(), 'token-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('defaults: HS256 with the secret, a day at most, 30 s of clock tolerance, no issuer or audience', () => {
    const { token } = loadConfig({ JWT_SECRET: SECRET }).auth;
    assert.deepEqual(token, {
      key: { kind: 'secret' },
      algorithms: ['HS256'],
      issuer: undefined,
      audience: undefined,
      maxLifetimeSeconds: 86_400,
      clockToleranceSeconds: 30,
    });
  });

  it('infers the algorithm from the public key type', () => {
    assert.deepEqual(loadConfig({ JWT_PUBLIC_KEY: rsaPem }).auth.token.algorithms, ['RS256']);
    assert.deepEqual(loadConfig({ JWT_PUBLIC_KEY: ecPem }).auth.token.algorithms, ['ES256']);
    // The development secret neither verifies nor is warned about when a public key does the work.
    assert.equal(loadConfig({ JWT_PUBLIC_KEY: rsaPem }).auth.jwtSecretIsDefault, false);
  });

  it('refuses more than one key source, naming them', () => {
    assert.match(
      problemsOf({ JWT_SECRET: SECRET, JWT_PUBLIC_KEY: rsaPem }).join(),
      /^JWT_SECRET \/ JWT_PUBLIC_KEY: .*exactly one key source/,
    );
    const jwks = file('one.json', JSON.stringify({ keys: [] }));
    assert.match(
      problemsOf({ JWT_PUBLIC_KEY: rsaPem, JWT_JWKS_FILE: jwks }).join(),
      /^JWT_PUBLIC_KEY \/ JWT_JWKS_FILE: /,
    );
    assert.match(
      problemsOf({ JWT_SECRET: SECRET, JWT_PUBLIC_KEY: rsaPem, JWT_JWKS_FILE: jwks }).join(),
      /^JWT_SECRET \/ JWT_PUBLIC_KEY \/ JWT_JWKS_FILE: /,
    );
  });

  it('names JWT_PUBLIC_KEY when it is not a usable public key', () => {
    assert.match(problemsOf({ JWT_PUBLIC_KEY: 'not a pem' }).join(), /^JWT_PUBLIC_KEY: not a PEM SPKI public key/);
    const broken = rsaPem.replace(/[A-Za-z]{8}/, 'AAAAAAAA');
    assert.match(problemsOf({ JWT_PUBLIC_KEY: broken }).join(), /^JWT_PUBLIC_KEY: not a readable PEM public key/);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.match(problemsOf({ JWT_PUBLIC_KEY: privatePem }).join(), /^JWT_PUBLIC_KEY: holds a private key/);
    const pkcs1 = publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    assert.match(problemsOf({ JWT_PUBLIC_KEY: pkcs1 }).join(), /^JWT_PUBLIC_KEY: not a PEM SPKI public key/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    assert.match(problemsOf({ JWT_PUBLIC_KEY: small }).join(), /^JWT_PUBLIC_KEY: an RSA key of 1024 bits/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    assert.match(
      problemsOf({ JWT_PUBLIC_KEY: p384 }).join(),
      /^JWT_PUBLIC_KEY: an EC key on secp384r1; ES256 needs P-256/,
    );
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.match(problemsOf({ JWT_PUBLIC_KEY: ed }).join(), /^JWT_PUBLIC_KEY: an unsupported key type \(ed25519\)/);
  });

  it('lets JWT_ALGORITHMS narrow the key but never add HS256 or none to a public key', () => {
    assert.deepEqual(loadConfig({ JWT_PUBLIC_KEY: rsaPem, JWT_ALGORITHMS: 'RS256' }).auth.token.algorithms, ['RS256']);
    assert.match(
      problemsOf({ JWT_PUBLIC_KEY: rsaPem, JWT_ALGORITHMS: 'RS256,HS256' }).join(),
      /^JWT_ALGORITHMS: HS256 does not match the key of JWT_PUBLIC_KEY, which allows RS256/,
    );
    assert.match(
      problemsOf({ JWT_PUBLIC_KEY: rsaPem, JWT_ALGORITHMS: 'ES256' }).join(),
      /^JWT_ALGORITHMS: ES256 does not match/,
    );
    assert.match(
      problemsOf({ JWT_SECRET: SECRET, JWT_ALGORITHMS: 'RS256' }).join(),
      /^JWT_ALGORITHMS: RS256 does not match the key of JWT_SECRET/,
    );
    assert.match(
      problemsOf({ JWT_PUBLIC_KEY: rsaPem, JWT_ALGORITHMS: 'none' }).join(),
      /^JWT_ALGORITHMS: none not supported/,
    );
  });

  it('reads JWT_JWKS_FILE at start-up: its signing keys stay, the rest is left out, bad files are refused', async () => {
    const rsa = await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey);
    const ec = await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
    const enc = { ...rsa, kid: 'enc', use: 'enc' };
    const path = file(
      'mixed.json',
      JSON.stringify({
        keys: [{ ...rsa, kid: 'a' }, { ...ec, kid: 'b', alg: 'ES256' }, enc, { ...rsa, kid: 'ps', alg: 'PS256' }],
      }),
    );
    const { key, algorithms } = loadConfig({ JWT_JWKS_FILE: path }).auth.token;
    assert.deepEqual(algorithms, ['RS256', 'ES256']);
    assert.deepEqual(key.kind === 'jwks' && key.jwks.keys.map((k) => k.kid), ['a', 'b']);

    assert.match(
      problemsOf({ JWT_JWKS_FILE: join(dir, 'missing.json') }).join(),
      /^JWT_JWKS_FILE: cannot read .*missing\.json \(ENOENT\)/,
    );
    assert.match(problemsOf({ JWT_JWKS_FILE: file('bad.json', '{nope') }).join(), /^JWT_JWKS_FILE: .* is not JSON/);
    assert.match(problemsOf({ JWT_JWKS_FILE: file('shape.json', '[]') }).join(), /^JWT_JWKS_FILE: .* is not a JWKS/);
    assert.match(
      problemsOf({ JWT_JWKS_FILE: file('none.json', JSON.stringify({ keys: [enc] })) }).join(),
      /^JWT_JWKS_FILE: .* has no RS256 .* signing key \(key "enc" is for "use": "enc"\)/,
    );
    const privateJwk = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
    assert.match(
      problemsOf({ JWT_JWKS_FILE: file('private.json', JSON.stringify({ keys: [privateJwk] })) }).join(),
      /^JWT_JWKS_FILE: key 0 holds private key material/,
    );
    const oct = { kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), kid: 'hs' };
    assert.match(
      problemsOf({ JWT_JWKS_FILE: file('oct.json', JSON.stringify({ keys: [oct, rsa] })) }).join(),
      /^JWT_JWKS_FILE: key "hs" is a symmetric key/,
    );
  });

  it('requires JWT_SECRET in production only when no public key or JWKS verifies tokens', () => {
    assert.match(problemsOf({ NODE_ENV: 'production' }).join(), /^JWT_SECRET: .*required/);
    // The ws-server: the producer would also need INTAKE_API_KEYS in production.
    assert.equal(
      loadConfig({ NODE_ENV: 'production', JWT_PUBLIC_KEY: rsaPem }, 'ws-server').auth.token.key.kind,
      'public-key',
    );
  });

  it('bounds the lifetime and the tolerance', () => {
    const { token } = loadConfig({
      JWT_MAX_LIFETIME_SECONDS: '900',
      JWT_CLOCK_TOLERANCE_SECONDS: '0',
      JWT_ISSUER: 'https://auth.example',
      JWT_AUDIENCE: 'api',
    }).auth;
    assert.equal(token.maxLifetimeSeconds, 900);
    assert.equal(token.clockToleranceSeconds, 0);
    assert.equal(token.issuer, 'https://auth.example');
    assert.equal(token.audience, 'api');
    assert.match(problemsOf({ JWT_MAX_LIFETIME_SECONDS: String(31 * 86_400) }).join(), /^JWT_MAX_LIFETIME_SECONDS: /);
    assert.match(problemsOf({ JWT_MAX_LIFETIME_SECONDS: '0' }).join(), /^JWT_MAX_LIFETIME_SECONDS: /);
    assert.match(problemsOf({ JWT_CLOCK_TOLERANCE_SECONDS: '3600' }).join(), /^JWT_CLOCK_TOLERANCE_SECONDS: /);
  });
});
