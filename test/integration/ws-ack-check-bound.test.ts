import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { MAX_STORED_ACK_CHECKS } from '../../ws-server/stored-ack.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

/*
 * ACK frames of ids Redis does not know each need a MongoDB check. One socket may have
 * MAX_STORED_ACK_CHECKS of them waiting or running; past that its ACK frames are answered
 * UNAVAILABLE with their ids at once, instead of each queueing a check (and its 500 ids) among
 * the instance's background loads, which one user flooding them grew by a gigabyte in 15 s.
 */
const { config: direct } = testEnv('wsackbound', {
  // Long enough that "at once" below cannot be a check failing at its deadline.
  MONGO_QUERY_TIMEOUT_MS: '6000',
  MONGO_FALLBACK_WAIT_MS: '50',
});

/** Frames the flooder sends while MongoDB hangs: far more than its bound. */
const FRAMES = 20;

/** A full ACK batch of ids nobody has, 64 characters each (the longest allowed). */
function unknownIds(): string[] {
  return Array.from({ length: direct.ws.maxAckBatch }, () => randomBytes(32).toString('hex'));
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  assert.ok(line, `${name} is exported`);
  return Number(line.split(' ').pop());
}

describe('ws-server: MongoDB checks of one socket’s ACKs are bounded', () => {
  let proxy: TcpProxy;
  let config: Config;
  let server: WsServerService;
  let consumer: SimulatedConsumer;
  const clients: WsTestClient[] = [];

  before(async () => {
    ({ proxy, config } = await mongoBehindProxy(direct));
    server = await bootstrap(config, testLogger);
    consumer = await SimulatedConsumer.start(direct);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await consumer.close();
    await proxy.close();
    await cleanupTestResources(direct);
  });

  it('answers UNAVAILABLE at once past the bound, queues no more loads, and the socket works after the stall', async () => {
    const own = await consumer.buffer(await consumer.make('flooder'));
    const [flooder] = await WsTestClient.authed(server.port, {
      token: await signUserToken('flooder', config.auth.jwtSecret),
    });
    clients.push(flooder);
    await flooder.waitForNotifications(1);
    await flooder.next('REPLAY_DONE'); // its catch-up read MongoDB while it was healthy
    assert.equal(await metric(server.port, 'ws_background_loads'), 0, 'no MongoDB read in hand before the flood');

    proxy.stall();
    const frames = Array.from({ length: FRAMES }, unknownIds);
    for (const ids of frames) flooder.send({ type: 'ACK', notificationIds: ids });
    const checked = frames.slice(0, MAX_STORED_ACK_CHECKS);
    const refused = frames.slice(MAX_STORED_ACK_CHECKS);
    const answered = (ids: string[]) =>
      flooder.frames.some((f) => (f.type === 'ERROR' || f.type === 'ACKED') && f.ids?.includes(ids[0]!));

    const unavailable = await eventually(
      () => {
        const errors = flooder.of('ERROR');
        return errors.length >= refused.length ? errors : undefined;
      },
      { what: `${refused.length} refusals` },
    );
    // Each frame named by its first id: 500 random ids each would drown a failure's diff.
    const named = (ids: string[] | undefined) => `${ids?.[0]} (+${(ids?.length ?? 1) - 1})`;
    assert.deepEqual(
      unavailable.map((f) => `${f.code} ${named(f.ids)}`),
      refused.map((ids) => `UNAVAILABLE ${named(ids)}`),
      'each frame past the bound is answered UNAVAILABLE, in order',
    );
    assert.ok(
      unavailable.every((f, i) => f.ids?.join() === refused[i]!.join()),
      'with all its ids, for the client to ACK them again',
    );
    assert.ok(
      checked.every((ids) => !answered(ids)),
      'the checked frames are still waiting on MongoDB: the refusals came at once, not at a deadline',
    );
    // The checked frames reached MongoDB (their queries hang in the proxy); the refused ones never did.
    await eventually(() => checked.every((ids) => proxy.heldIncludes(Buffer.from(ids[0]!))), {
      what: 'the checks held by the stalled MongoDB',
    });
    assert.ok(
      refused.every((ids) => !proxy.heldIncludes(Buffer.from(ids[0]!))),
      'no query for a refused frame',
    );
    assert.equal(
      await metric(server.port, 'ws_background_loads'),
      MAX_STORED_ACK_CHECKS,
      'the instance holds only the bounded checks, not one per frame',
    );

    proxy.unstall();
    // The held checks are answered now: NOT_FOUND (nobody has these ids), or UNAVAILABLE if the
    // query went out on a connection opened during the stall, which stays hung until its deadline.
    await eventually(() => checked.every(answered), { what: 'answers to the checked frames' });
    assert.equal(await metric(server.port, 'ws_background_loads'), 0);

    // The socket still works: a refused frame ACKed again is checked in MongoDB this time...
    flooder.send({ type: 'ACK', notificationIds: refused[0] });
    const notFound = await eventually(
      () => flooder.of('ERROR').find((f) => f.code === 'NOT_FOUND' && f.ids?.[0] === refused[0]![0]),
      {
        what: 'NOT_FOUND for the ids ACKed again',
      },
    );
    assert.deepEqual(notFound.ids, refused[0]);
    // ...and a buffered notification is acked.
    flooder.send({ type: 'ACK', notificationId: own.id });
    assert.deepEqual((await flooder.next('ACKED')).ids, [own.id]);
    assert.equal(flooder.closed, undefined);
  });
});
