import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { SignJWT, type JWTPayload } from 'jose';
import { signUserToken } from '../../shared/auth/jwt.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

/*
 * Hostile WebSocket frames, generated. Whatever a client sends, the server answers with an
 * ERROR frame of a stable code or a documented close code, stays up, and other users keep
 * receiving their notifications. Frames per second are raised here so the generator is not
 * cut off as a flooder; the flood limit has its own test below.
 */
const ERROR_CODES = [
  'BAD_JSON',
  'BAD_FRAME',
  'UNKNOWN_TYPE',
  'NOT_AUTHENTICATED',
  'ALREADY_AUTHENTICATED',
  'ACK_BATCH_TOO_LARGE',
  'NOT_FOUND',
  // ACKs of ids Redis does not hold past the socket's bound of MongoDB checks (ws-server/stored-ack.ts):
  // a fuzzer sends them faster than any check answers.
  'UNAVAILABLE',
];
const CLOSE_CODES = [4401, 1008, 1009];

let pipeline: Pipeline;

const hostileFrame = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.record({ type: fc.string({ maxLength: 12 }) }, { requiredKeys: [] }).map((f) => JSON.stringify(f)),
  fc.record({ type: fc.constant('ACK'), notificationId: fc.jsonValue({ maxDepth: 1 }) }).map((f) => JSON.stringify(f)),
  fc
    .record({ type: fc.constant('ACK'), notificationIds: fc.array(fc.string({ maxLength: 60 }), { maxLength: 600 }) })
    .map((f) => JSON.stringify(f)),
  // The versions an ACK may name: any JSON where a version goes, lists that do not line up.
  fc
    .record({
      type: fc.constant('ACK'),
      notificationId: fc.string({ maxLength: 60 }),
      version: fc.jsonValue({ maxDepth: 1 }),
    })
    .map((f) => JSON.stringify(f)),
  fc
    .record({
      type: fc.constant('ACK'),
      notificationIds: fc.array(fc.string({ maxLength: 60 }), { maxLength: 20 }),
      versions: fc.oneof(
        fc.array(fc.oneof(fc.integer(), fc.constant(null), fc.double()), { maxLength: 20 }),
        fc.jsonValue({ maxDepth: 1 }),
      ),
    })
    .map((f) => JSON.stringify(f)),
  fc
    .record({ type: fc.constant('AUTH'), token: fc.string({ maxLength: 300 }), lastSeq: fc.jsonValue({ maxDepth: 1 }) })
    .map((f) => JSON.stringify(f)),
  fc.constantFrom(
    '{"__proto__":{"type":"PING"}}',
    '{"type":"PING","constructor":{"prototype":{"x":1}}}',
    '{"type":"ACK","notificationIds":{"length":1e9}}',
  ),
);

/**
 * Sends one frame, then a PING: its answer (PONG, or NOT_AUTHENTICATED before AUTH_OK) or a close
 * shows the frame was handled.
 */
async function roundTrip(client: WsTestClient, frame: string | Buffer, authed = true): Promise<void> {
  const answers = () =>
    (authed ? client.of('PONG') : client.of('ERROR').filter((f) => f.code === 'NOT_AUTHENTICATED')).length;
  const before = answers();
  client.ws.send(frame);
  client.send({ type: 'PING' });
  await eventually(() => client.closed !== undefined || answers() > before, {
    what: 'the server to answer',
    timeoutMs: 10_000,
    intervalMs: 5,
  });
}

function assertOnlyDocumentedAnswers(client: WsTestClient): void {
  for (const f of client.of('ERROR'))
    assert.ok(ERROR_CODES.includes(String(f.code)), `stable error code: ${JSON.stringify(f)}`);
  if (client.closed)
    assert.ok(CLOSE_CODES.includes(client.closed.code), `documented close code: ${JSON.stringify(client.closed)}`);
}

describe('WebSocket fuzzing', () => {
  before(async () => {
    // A small frame limit (generated frames cross it often) needs a batch limit whose largest ACK fits it.
    pipeline = await startPipeline('fuzzws', {
      WS_MAX_FRAMES_PER_SECOND: '5000',
      WS_MAX_FRAME_BYTES: '4096',
      WS_MAX_ACK_BATCH: '45',
    });
  });
  after(async () => {
    await pipeline.close();
  });

  it('an authenticated socket survives generated frames with stable errors, and other users are unaffected', async () => {
    const [watcher] = await WsTestClient.authed(pipeline.wsPort, { token: await pipeline.token('user2') });
    let [client] = await WsTestClient.authed(pipeline.wsPort, { token: await pipeline.token('user1') });
    await fc.assert(
      fc.asyncProperty(hostileFrame, async (frame) => {
        if (client.closed)
          [client] = await WsTestClient.authed(pipeline.wsPort, { token: await pipeline.token('user1') });
        await roundTrip(client, frame);
        assertOnlyDocumentedAnswers(client);
        assert.equal(client.notifications().length, 0, 'hostile frames never produce notifications');
      }),
      { numRuns: 500 },
    );
    const sent = await pipeline.post('/events', { type: 'LIKE', actorId: 'user3', targetId: 'user2', postId: 'post4' });
    assert.equal(sent.status, 202);
    const [n] = await watcher.waitForNotifications(1);
    assert.equal((n?.notification as { objectId?: string } | undefined)?.objectId, 'post4');
    client.close();
    watcher.close();
  });

  it('before AUTH, generated frames get NOT_AUTHENTICATED, errors, or a 4401 close, and deliver nothing', async () => {
    await fc.assert(
      fc.asyncProperty(hostileFrame, async (frame) => {
        const client = await WsTestClient.connect(pipeline.wsPort);
        await roundTrip(client, frame, false);
        assertOnlyDocumentedAnswers(client);
        assert.equal(client.of('AUTH_OK').length, 0, `no forged AUTH succeeds: ${frame.slice(0, 100)}`);
        assert.equal(client.of('PONG').length, 0, 'not even a PING is answered before AUTH_OK');
        client.close();
      }),
      { numRuns: 150 },
    );
  });

  it('binary frames are refused with BAD_FRAME, oversized ones closed with 1009', async () => {
    const [client] = await WsTestClient.authed(pipeline.wsPort, { token: await pipeline.token('user1') });
    await roundTrip(client, Buffer.from([0xff, 0x00, 0x7b]));
    assert.equal(client.of('ERROR')[0]?.code, 'BAD_FRAME');
    client.ws.send('x'.repeat(5000));
    assert.equal((await client.waitClosed()).code, 1009);
  });

  it('forged, expired, wrongly-signed and not strictly valid tokens are closed with 4401', async () => {
    // Signed with the right secret, but without exp, living too long, or with a sub that is no id.
    const signed = (claims: JWTPayload) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(pipeline.config.auth.jwtSecret));
    const exp = Math.floor(Date.now() / 1000) + 600;
    const tokens = [
      await signUserToken('user1', 'another-secret-that-is-long-enough-0123456789'),
      await signUserToken('user1', pipeline.config.auth.jwtSecret, -60),
      'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyMSJ9.',
      await signed({ sub: 'user1' }),
      await signed({ sub: 'user1', exp: exp + 30 * 86_400 }),
      await signed({ sub: '../atkB', exp }),
    ];
    for (const token of tokens) {
      const client = await WsTestClient.connect(pipeline.wsPort);
      client.send({ type: 'AUTH', token });
      assert.equal((await client.waitClosed()).code, 4401, token.slice(0, 30));
      assert.equal(client.of('AUTH_OK').length, 0);
    }
  });

  it("an ACK of another user's notification changes nothing for its owner", async () => {
    const sent = await pipeline.post('/events', { type: 'LIKE', actorId: 'user5', targetId: 'user4', postId: 'post7' });
    assert.equal(sent.status, 202);
    const [owner] = await WsTestClient.authed(pipeline.wsPort, { token: await pipeline.token('user4') });
    const [n] = await owner.waitForNotifications(1);
    const id = n!.notification.id;
    owner.close();
    const [intruder] = await WsTestClient.authed(pipeline.wsPort, { token: await pipeline.token('user1') });
    intruder.send({ type: 'ACK', notificationId: id });
    const error = await intruder.next('ERROR');
    assert.equal(error.code, 'NOT_FOUND');
    assert.deepEqual(error.ids, [id]);
    const [again] = await WsTestClient.authed(pipeline.wsPort, { token: await pipeline.token('user4') });
    const [replayed] = await again.waitForNotifications(1);
    assert.equal(replayed!.notification.id, id, 'still pending for its owner');
    again.close();
    intruder.close();
  });

  it('a flooding client is cut off with 1008 while another user on the same server is unaffected', async () => {
    const [bystander] = await WsTestClient.authed(pipeline.wsPort, { token: await pipeline.token('user6') });
    const [flooder] = await WsTestClient.authed(pipeline.wsPort, { token: await pipeline.token('user7') });
    for (let i = 0; i < 6000 && flooder.ws.readyState === flooder.ws.OPEN; i++) flooder.send({ type: 'PING' });
    assert.equal((await flooder.waitClosed()).code, 1008);
    bystander.send({ type: 'PING' });
    await bystander.next('PONG');
    assert.equal(bystander.closed, undefined);
    bystander.close();
  });
});
