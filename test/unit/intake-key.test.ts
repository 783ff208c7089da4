import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import type { Request, Response } from 'express';
import { HttpError } from '../../producer/http-errors.js';
import { IntakeKeys, isIntakeKeyGuard, requireIntakeKey } from '../../producer/intake-key.js';
import { DEV_INTAKE_API_KEY, loadConfig } from '../../shared/config.js';
import { demoIntakeKey } from '../../ws-server/demo-page.js';

/** Runs the guard on a request with `authorization` and reports what it decided. */
function guardWith(
  keys: IntakeKeys,
  authorization: string | undefined,
): { passed: boolean; error?: HttpError; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  const req = {
    get: (name: string) => (name.toLowerCase() === 'authorization' ? authorization : undefined),
  } as unknown as Request;
  const res = { set: (name: string, value: string) => (headers[name] = value) } as unknown as Response;
  let outcome: { passed: boolean; error?: HttpError } = { passed: false };
  requireIntakeKey(keys)(req, res, (err?: unknown) => {
    outcome = err === undefined ? { passed: true } : { passed: false, error: err as HttpError };
  });
  return { ...outcome, headers };
}

describe('intake keys', () => {
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64url');

  it('accepts each configured key while two are configured (rotation) and nothing else', () => {
    const keys = new IntakeKeys([newKey, oldKey]);
    assert.equal(keys.accepts(oldKey), true);
    assert.equal(keys.accepts(newKey), true);
    for (const wrong of [
      '',
      oldKey.slice(0, -1),
      `${oldKey}=`,
      oldKey.toUpperCase() === oldKey ? oldKey.toLowerCase() : oldKey.toUpperCase(),
      `${newKey},${oldKey}`,
      ' '.repeat(44),
    ]) {
      assert.equal(keys.accepts(wrong), false, `accepted ${JSON.stringify(wrong.slice(0, 8))}…`);
    }
    // Once the old key is removed from the list, it is refused.
    assert.equal(new IntakeKeys([newKey]).accepts(oldKey), false);
  });

  it('compares digests, so keys of any length are compared (timingSafeEqual would throw on unequal lengths) and refused', () => {
    const keys = new IntakeKeys([oldKey]);
    for (const length of [0, 1, oldKey.length - 1, oldKey.length + 1, 10_000])
      assert.equal(keys.accepts('a'.repeat(length)), false);
  });

  it('keeps no key in clear: logging the object cannot leak one', () => {
    const keys = new IntakeKeys([oldKey, newKey]);
    const printed = `${inspect(keys, { depth: 5, showHidden: true })}${JSON.stringify(keys)}`;
    assert.ok(!printed.includes(oldKey) && !printed.includes(newKey));
  });

  it('the guard: ApiKey with a known key passes; anything else is a 401 with WWW-Authenticate: ApiKey', () => {
    const keys = new IntakeKeys([oldKey]);
    assert.equal(guardWith(keys, `ApiKey ${oldKey}`).passed, true);
    assert.equal(guardWith(keys, `APIKEY\t${oldKey}`).passed, true, 'the scheme is case-insensitive');
    for (const header of [
      undefined,
      '',
      `ApiKey ${newKey}`,
      `Bearer ${oldKey}`,
      `ApiKey ${oldKey} extra`,
      `ApiKey`,
      oldKey,
    ]) {
      const { passed, error, headers } = guardWith(keys, header);
      assert.equal(passed, false, String(header));
      assert.ok(error instanceof HttpError);
      assert.equal(error.status, 401);
      assert.equal(error.code, 'unauthorized');
      assert.ok(!error.message.includes(oldKey) && !error.message.includes(newKey), 'the message never repeats a key');
      assert.equal(headers['WWW-Authenticate'], 'ApiKey');
    }
    assert.match(guardWith(keys, 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x').error!.message, /user token/);
  });

  it('with no key configured the guard lets everything through (development and tests only)', () => {
    assert.equal(guardWith(new IntakeKeys([]), undefined).passed, true);
    assert.equal(new IntakeKeys([]).open, true);
    assert.equal(isIntakeKeyGuard(requireIntakeKey(new IntakeKeys([]))), true);
    assert.equal(
      isIntakeKeyGuard(() => undefined),
      false,
    );
  });
});

describe('the development intake key', () => {
  it('is the one npm run dev sets and the Postman environment sends', () => {
    assert.match(readFileSync('scripts/dev.sh', 'utf8'), new RegExp(`INTAKE_API_KEYS=${DEV_INTAKE_API_KEY}\\n`));
    const env = JSON.parse(readFileSync('postman/local.postman_environment.json', 'utf8')) as {
      values: Array<{ key: string; value: string }>;
    };
    assert.equal(env.values.find((v) => v.key === 'intakeApiKey')?.value, DEV_INTAKE_API_KEY);
  });

  it('reaches the demo page only outside production and in dev auth mode', () => {
    const key = 'k'.repeat(40);
    assert.equal(
      demoIntakeKey(
        loadConfig({ NODE_ENV: 'development', WS_AUTH_MODE: 'dev', INTAKE_API_KEYS: `${key},${'o'.repeat(40)}` }),
      ),
      key,
    );
    assert.equal(
      demoIntakeKey(loadConfig({ NODE_ENV: 'development', WS_AUTH_MODE: 'token', INTAKE_API_KEYS: key })),
      undefined,
    );
    // Production refuses dev mode, so build the combination by hand: the rule must hold on its own.
    const production = {
      ...loadConfig({ NODE_ENV: 'development', WS_AUTH_MODE: 'dev', INTAKE_API_KEYS: key }),
      nodeEnv: 'production' as const,
    };
    assert.equal(demoIntakeKey(production), undefined);
    assert.equal(demoIntakeKey(loadConfig({ WS_AUTH_MODE: 'dev' })), undefined);
  });
});
