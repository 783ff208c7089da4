import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

/*
 * The read API behind an auth server: RS256 tokens verified with JWT_PUBLIC_KEY, with the
 * issuer and audience required. Every token is checked per request.
 */

const ISSUER = 'https://auth.test.example';
const AUDIENCE = 'notifications-api';
const rsa = await generateKeyPair('RS256', { extractable: true });
const pem = await exportSPKI(rsa.publicKey);
const { config } = testEnv('prodtokrsa', {
  JWT_SECRET: '',
  JWT_PUBLIC_KEY: pem,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
});

const now = () => Math.floor(Date.now() / 1000);
const rs256 = (claims: JWTPayload) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey);
const valid = (sub: string): JWTPayload => ({ sub, iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 300 });

describe('producer read API: RS256 tokens with JWT_PUBLIC_KEY, JWT_ISSUER and JWT_AUDIENCE', () => {
  let producer: ProducerService;
  let base: string;
  const get = async (path: string, token?: string) => {
    const res = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return {
      status: res.status,
      requestId: res.headers.get('x-request-id'),
      body: (await res.json()) as Record<string, unknown>,
    };
  };

  before(async () => {
    producer = await bootstrap(config, testLogger);
    base = `http://127.0.0.1:${producer.port}`;
  });
  after(async () => {
    await producer.close();
    await cleanupTestResources(config);
  });

  it("reads the caller's own history with an RS256 token of the auth server, and not another user's", async () => {
    const token = await rs256(valid('alice'));
    const own = await get('/users/alice/notifications', token);
    assert.equal(own.status, 200);
    assert.deepEqual(own.body.notifications, []);
    assert.equal((await get('/users/alice/notifications/unread-count', token)).status, 200);
    assert.equal((await get('/users/bob/notifications', token)).status, 403);
  });

  it('answers 401 naming the broken rule for every token that is not strictly valid', async () => {
    const other = await generateKeyPair('RS256');
    for (const [token, message] of [
      [
        await new SignJWT(valid('alice')).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(pem)),
        'token invalid (algorithm)',
      ],
      [
        await new SignJWT(valid('alice')).setProtectedHeader({ alg: 'RS256' }).sign(other.privateKey),
        'token invalid (signature)',
      ],
      [await rs256({ ...valid('alice'), exp: undefined }), 'token invalid (exp-missing)'],
      [await rs256({ ...valid('alice'), iat: now() - 600, exp: now() - 60 }), 'token expired'],
      [await rs256({ ...valid('alice'), exp: now() + 2 * 86_400 }), 'token invalid (lifetime)'],
      [await rs256({ ...valid('alice'), iss: 'https://evil.example' }), 'token invalid (issuer)'],
      [await rs256({ ...valid('alice'), aud: 'another-api' }), 'token invalid (audience)'],
      [await rs256(valid('../atkB')), 'token invalid (subject)'],
    ] as const) {
      const res = await get('/users/alice/notifications', token);
      assert.equal(res.status, 401, message);
      assert.deepEqual(res.body, { error: 'unauthorized', message, requestId: res.requestId });
    }
  });
});
