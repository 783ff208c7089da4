import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../shared/config.js';
import { demoConfig, demoContentSecurityPolicy } from '../../ws-server/demo-page.js';
// The page's own pure helpers, plain browser ES modules that run in Node as they are.
// @ts-expect-error: a JavaScript module of the page, without types
import { ago, dayKey, dayLabel, groupByDay, tokenSubject } from '../../ws-server/public/format.js';

const at = (y: number, m: number, d: number, h = 12) => new Date(y, m - 1, d, h).getTime();

describe('demo page configuration', () => {
  it('tells the page the producer URL from DEMO_PRODUCER_URL, without a trailing slash', () => {
    const config = demoConfig(loadConfig({ DEMO_PRODUCER_URL: 'https://producer-production.up.railway.app/' }));
    assert.equal(config.producerUrl, 'https://producer-production.up.railway.app');
  });

  it('without it, tells the page the producer port, so the page pairs it with the host it was opened on', () => {
    const config = demoConfig(loadConfig({ PRODUCER_PORT: '4123' }));
    assert.equal(config.producerUrl, null);
    assert.equal(config.producerPort, 4123);
  });

  it('refuses a DEMO_PRODUCER_URL that is not an http(s) URL', () => {
    assert.throws(() => loadConfig({ DEMO_PRODUCER_URL: 'producer:3000' }), /DEMO_PRODUCER_URL/);
    assert.throws(() => loadConfig({ DEMO_PRODUCER_URL: 'ws://producer' }), /DEMO_PRODUCER_URL/);
  });

  it('lets ?api= pick the producer only in dev auth mode outside production, where the page holds no secret', () => {
    assert.equal(demoConfig(loadConfig({ WS_AUTH_MODE: 'dev' })).apiOverride, true);
    // The page sends a pasted token (and a typed intake key) to the producer: a link must not name it.
    assert.equal(demoConfig(loadConfig({ WS_AUTH_MODE: 'token' })).apiOverride, false);
    const dev = loadConfig({ WS_AUTH_MODE: 'dev' });
    assert.equal(demoConfig({ ...dev, nodeEnv: 'production' }).apiOverride, false);
  });

  it('sends a CSP that allows no foreign script and connects only to this origin and the producer', () => {
    const csp = (env: Record<string, string>) =>
      demoContentSecurityPolicy(loadConfig(env))
        .split('; ')
        .map((d) => d.split(' '));
    const connect = (env: Record<string, string>) =>
      csp(env)
        .find(([name]) => name === 'connect-src')
        ?.slice(1);
    const token = { WS_AUTH_MODE: 'token' };
    for (const [name, ...sources] of csp(token)) {
      if (name === 'script-src') assert.deepEqual(sources, ["'self'"]);
      if (['object-src', 'base-uri', 'frame-ancestors'].includes(name!)) assert.deepEqual(sources, ["'none'"]);
    }
    for (const name of ['default-src', 'script-src', 'object-src', 'base-uri', 'frame-ancestors'])
      assert.ok(
        csp(token).some(([n]) => n === name),
        name,
      );
    assert.deepEqual(connect({ ...token, DEMO_PRODUCER_URL: 'https://producer.example/api/' }), [
      "'self'",
      'https://producer.example',
    ]);
    assert.deepEqual(connect({ ...token, PRODUCER_PORT: '4123' }), ["'self'", 'http://*:4123', 'https://*:4123']);
    // Dev mode: ?api= may name any producer, so connect-src cannot list it.
    assert.deepEqual(connect({ WS_AUTH_MODE: 'dev' }), ["'self'", 'http:', 'https:', 'ws:', 'wss:']);
  });

  it('offers the types the preferences API lets a user mute, and no transactional one', () => {
    const mutableTypes: readonly string[] = demoConfig(loadConfig({})).mutableTypes;
    assert.ok(mutableTypes.includes('LIKE') && mutableTypes.includes('PROMO'));
    for (const t of ['SECURITY', 'ORDER', 'PAYMENT', 'UNFOLLOW']) assert.ok(!mutableTypes.includes(t), t);
  });
});

describe('demo page day grouping and times', () => {
  const now = at(2025, 3, 12, 15);

  it('labels today, yesterday and older days by calendar day, not by 24-hour spans', () => {
    assert.equal(dayLabel(dayKey(new Date(at(2025, 3, 12, 0)).toISOString()), now), 'Today');
    assert.equal(dayLabel(dayKey(new Date(at(2025, 3, 11, 23)).toISOString()), now), 'Yesterday');
    assert.equal(dayLabel(dayKey(new Date(at(2025, 3, 11, 0)).toISOString()), now), 'Yesterday');
    const older = dayLabel(dayKey(new Date(at(2025, 3, 3)).toISOString()), now);
    assert.doesNotMatch(older, /Today|Yesterday/);
    assert.match(older, /3/);
    assert.match(dayLabel('2024-12-30', now), /2024/, 'another year says which');
  });

  it('groups newest day first and newest first within a day', () => {
    const n = (id: string, ms: number, seq = 0) => ({ id, seq, createdAt: new Date(ms).toISOString() });
    const groups = groupByDay(
      [
        n('a', at(2025, 3, 10, 9)),
        n('b', at(2025, 3, 12, 8)),
        n('c', at(2025, 3, 12, 14)),
        n('d', at(2025, 3, 10, 20)),
      ],
      now,
    );
    assert.deepEqual(groups.map((g: { label: string }) => g.label).slice(0, 1), ['Today']);
    assert.deepEqual(
      groups.map((g: { items: { id: string }[] }) => g.items.map((i) => i.id)),
      [
        ['c', 'b'],
        ['d', 'a'],
      ],
    );
  });

  it('orders notifications created in the same millisecond by seq', () => {
    const ms = at(2025, 3, 12, 10);
    const groups = groupByDay(
      [
        { id: 'x', seq: 1, createdAt: new Date(ms).toISOString() },
        { id: 'y', seq: 2, createdAt: new Date(ms).toISOString() },
      ],
      now,
    );
    assert.deepEqual(
      groups[0].items.map((i: { id: string }) => i.id),
      ['y', 'x'],
    );
  });

  it('says how long ago something happened', () => {
    assert.equal(ago(new Date(now - 10_000).toISOString(), now), 'just now');
    assert.equal(ago(new Date(now - 5 * 60_000).toISOString(), now), '5 min ago');
    assert.equal(ago(new Date(now - 2 * 3600_000).toISOString(), now), '2 h ago');
  });
});

describe('demo page token sign-in', () => {
  it('reads the user from a JWT (base64url, no padding)', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'user7~é', exp: 1 })).toString('base64url');
    assert.equal(tokenSubject(`eyJhbGciOiJIUzI1NiJ9.${payload}.sig`), 'user7~é');
    assert.equal(tokenSubject('not-a-token'), undefined);
    assert.equal(tokenSubject(`a.${Buffer.from('{"sub":1}').toString('base64url')}.c`), undefined);
  });
});
