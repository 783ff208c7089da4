import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LoadGenerator } from '../../bench/load.js';
import { OptionsError, parseOptions } from '../../bench/options.js';
import { Tracker } from '../../bench/tracker.js';

interface Received {
  path: string;
  authorization: string | undefined;
  events: { eventId: string; targetId: string }[];
}

/**
 * `--batch N`: the load generator posts the events that fall due together to POST /events/batch,
 * and counts each event by its own result, not by the request's status. Against a stand-in
 * producer that answers like the real one (producer/accept-batch.ts) and rejects some items.
 */
describe('bench load generator, --batch', () => {
  const received: Received[] = [];
  let server: http.Server;
  let port: number;
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const parsed = JSON.parse(body) as { events?: Received['events'] } & Received['events'][number];
        const events = req.url === '/events/batch' ? parsed.events! : [parsed];
        received.push({ path: req.url!, authorization: req.headers.authorization, events });
        if (req.url !== '/events/batch') {
          res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
          return;
        }
        // Every event whose number ends in 7 is refused, as a validation failure would be.
        const results = events.map((e, index) =>
          e.eventId.endsWith('7')
            ? { index, status: 'rejected', error: 'validation_failed', details: [] }
            : { index, status: 'accepted', eventId: e.eventId },
        );
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results }));
      });
    });
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  it('sends every event once, in batches of at most N, and counts each by its own result', async () => {
    received.length = 0;
    const tracker = new Tracker('bt');
    const load = new LoadGenerator(port, tracker, ['u0', 'u1', 'u2'], 4, 'secret-key', 4);
    await load.run(500, 0.1, 0); // 50 events
    await load.settle(5000);
    load.close();

    assert.equal(tracker.sent, 50);
    const events = received.flatMap((r) => r.events);
    assert.deepEqual(events.map((e) => e.eventId).sort(), Array.from({ length: 50 }, (_, n) => `bt-${n}`).sort());
    assert.ok(received.every((r) => r.path === '/events/batch' && r.authorization === 'ApiKey secret-key'));
    assert.ok(received.every((r) => r.events.length >= 1 && r.events.length <= 4));
    assert.ok(received.length >= 50 / 4, `${received.length} requests`);
    // bt-7, bt-17, bt-27, bt-37, bt-47 were refused; the other 45 accepted.
    assert.equal(tracker.accepted, 45);
    assert.equal(tracker.failed, 5);
    assert.equal(tracker.failures.get('validation_failed'), 5);
  });

  it('with N = 1 posts each event to POST /events, as before', async () => {
    received.length = 0;
    const tracker = new Tracker('bs');
    const load = new LoadGenerator(port, tracker, ['u0', 'u1'], 4, undefined);
    await load.run(500, 0.02, 0); // 10 events
    await load.settle(5000);
    load.close();
    assert.equal(received.length, 10);
    assert.ok(received.every((r) => r.path === '/events' && r.authorization === undefined));
    assert.equal(tracker.accepted, 10);
  });

  it("--batch takes 1 to BATCH_MAX_EVENTS events (the run's own, if --env sets it), for steady and max only", () => {
    assert.equal(parseOptions([]).batch, 1);
    assert.equal(parseOptions(['--batch', '20']).batch, 20);
    assert.equal(parseOptions(['--scenario', 'max', '--batch', '500']).batch, 500);
    for (const bad of ['0', '501', '2.5', 'x']) {
      assert.throws(
        () => parseOptions(['--batch', bad]),
        (err: unknown) => err instanceof OptionsError && /--batch/.test(err.message),
      );
    }
    assert.throws(() => parseOptions(['--scenario', 'fanout', '--batch', '5']), /--batch above 1 runs steady or max/);
    assert.equal(parseOptions(['--env', 'BATCH_MAX_EVENTS=1000', '--batch', '800']).batch, 800);
    assert.throws(
      () => parseOptions(['--env', 'BATCH_MAX_EVENTS=10', '--batch', '11']),
      /--batch must be 1 to 10 events/,
    );
    assert.throws(() => parseOptions(['--env', 'BATCH_MAX_EVENTS=x']), /BATCH_MAX_EVENTS/);
  });
});
