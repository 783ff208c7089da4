import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEV_INTAKE_API_KEY } from '../../shared/config.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { failuresOf, runPostman, skippedOf } from '../helpers/postman.js';
import { WsTestClient } from '../helpers/ws-client.js';

/**
 * The Postman collection users import, run with newman and the shipped environment file unchanged
 * (only `baseUrl` points at this pipeline's port, and token mode adds the token a user pastes),
 * against the whole pipeline, in both of its modes. The producer takes the development intake key
 * `npm run dev` sets, which the environment holds.
 */

/** The checks that need a token, skipped by name in dev mode (postman/README.md "Two modes"). */
const TOKEN_ONLY = [
  'Bad inputs: read API / 401 history without token: status is 401 (token mode only: in dev mode the read API needs no token)',
  "Bad inputs: read API / 403 another user's history: status is 403 (token mode only: without a token there is no caller to refuse)",
  "Preferences / 403 another user's preferences: status is 403 (token mode only: without a token there is no caller to refuse)",
];

function assertRan(summary: Awaited<ReturnType<typeof runPostman>>['summary']): void {
  const { assertions, requests } = summary.run.stats;
  // 67 requests (History polls itself until jobs stored a notification) and ~155 assertions.
  assert.ok((requests.total ?? 0) >= 67, `requests run: ${requests.total}`);
  assert.ok((assertions.total ?? 0) >= 150, `assertions run: ${assertions.total}`);
  assert.equal(assertions.failed, 0);
}

describe('postman collection, dev mode (npm run dev): the shipped environment, only baseUrl set', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline('postmandev', { INTAKE_API_KEYS: DEV_INTAKE_API_KEY, WS_AUTH_MODE: 'dev' });
  });
  after(async () => {
    await p.close();
  });

  it('pressing Send twice on an event notifies twice: each send is a new actor and post', async () => {
    const [socket] = await WsTestClient.authed(p.wsPort, { userId: 'user2' });
    try {
      const { summary, answers } = await runPostman([{ key: 'baseUrl', value: p.producerUrl }], {
        folder: 'LIKE event',
        iterationCount: 2,
      });
      assert.deepEqual(failuresOf(summary), []);
      const sent = answers.map((a) => JSON.parse(a.request.body?.raw ?? '{}') as { actorId: string; postId: string });
      assert.equal(sent.length, 2);
      assert.deepEqual(
        answers.map((a) => a.response.code),
        [202, 202],
      );
      // Within a second of each other: the same actor and post would be one action, dropped as a
      // repeat (ACTION_DEDUPE_WINDOW_MS) or folded into the first (AGGREGATION_WINDOW_MS).
      const notifications = (await socket.waitForNotifications(2)).map((f) => f.notification);
      // One notification per send, each of its own actor and post (taken by the consumer in either order).
      const key = (actor: string | undefined, post: string | null | undefined) => `${actor} ${post}`;
      assert.deepEqual(
        notifications.map((n) => key(n.actors.join(), n.objectId)).sort(),
        sent.map((e) => key(e.actorId, e.postId)).sort(),
      );
      assert.equal(new Set(notifications.map((n) => n.id)).size, 2);
      assert.notEqual(sent[0]?.actorId, sent[1]?.actorId);
      assert.notEqual(sent[0]?.postId, sent[1]?.postId);
      assert.deepEqual(
        notifications.map((n) => [n.type, n.actorCount]),
        [
          ['LIKE', 1],
          ['LIKE', 1],
        ],
      );
    } finally {
      socket.close();
    }
  });

  it('passes every request and assertion; the token-only checks are skipped, each named with why', async () => {
    const { summary } = await runPostman([{ key: 'baseUrl', value: p.producerUrl }]);
    assert.deepEqual(failuresOf(summary), []);
    assertRan(summary);
    assert.deepEqual(skippedOf(summary).sort(), [...TOKEN_ONLY].sort());
  });
});

describe('postman collection, token mode: the shipped environment with a token from npm run seed', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline('postmantoken', { INTAKE_API_KEYS: DEV_INTAKE_API_KEY });
  });
  after(async () => {
    await p.close();
  });

  it('passes every request and assertion, the token-only checks included', async () => {
    const token = await p.token('user2');
    const { summary } = await runPostman([
      { key: 'baseUrl', value: p.producerUrl },
      { key: 'token', value: token },
    ]);
    assert.deepEqual(failuresOf(summary), []);
    assertRan(summary);
    assert.deepEqual(skippedOf(summary), []);
    const ran = new Set(
      summary.run.executions.flatMap((e) =>
        (e.assertions ?? []).filter((a) => !a.skipped).map((a) => `${e.item.name}: ${a.assertion}`),
      ),
    );
    for (const check of [
      '401 history without token: status is 401',
      "403 another user's history: status is 403",
      "403 another user's preferences: status is 403",
    ]) {
      assert.ok(ran.has(check), `ran ${check}`);
    }
  });

  it('without the token stops at "Which auth mode?", saying what to set', async () => {
    const { summary } = await runPostman([{ key: 'baseUrl', value: p.producerUrl }]);
    assert.equal(summary.run.stats.requests.total, 1);
    const failures = failuresOf(summary);
    assert.equal(failures.length, 1, failures.join('\n'));
    assert.match(
      failures[0] ?? '',
      /^Which auth mode\?: this producer runs in token mode: set the environment's `token` to a JWT/,
    );
  });
});
