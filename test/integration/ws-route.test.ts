import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { commitEvents, type CommitInput } from '../../consumer/commit.js';
import type { ParsedEvent } from '../../consumer/parse-event.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { keys } from '../../shared/keys.js';
import { openSubscriber, type Redis } from '../../shared/redis.js';
import type { WsServerService } from '../../ws-server/bootstrap.js';
import { testEnv } from '../helpers/config.js';
import { ROOT, untilOutput } from '../helpers/process.js';
import type { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';
import { wsServerPairSuite } from '../helpers/ws-suite.js';
import { commitSettings } from '../helpers/commit-settings.js';

// No redelivery during the file: every NOTIFICATION frame counted is a push, a replay or a resync.
const { env, config } = testEnv('wsroute', {
  ACK_TIMEOUT_MS: '600000',
  WS_ROUTE_TTL_MS: '4000',
  WS_ROUTE_REFRESH_MS: '1000',
});

/** A counter of the instance's /metrics, summed over the series whose labels include `labels`. */
async function metric(server: { port: number }, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`).exec(line);
    if (match && (match[1] ?? '').includes(labels)) sum += Number(match[2]);
  }
  return sum;
}

const wakes = async (server: WsServerService) => ({
  handled: await metric(server, 'ws_wakes_received_total', 'outcome="handled"'),
  dropped: await metric(server, 'ws_wakes_received_total', 'outcome="dropped"'),
});

/** Every wake this tenant publishes, on any instance's channel, in publish order. */
async function wakeTap(redis: Redis): Promise<{ channels: string[]; close(): void }> {
  // A plain connection to one node: on a cluster PUBLISH reaches every node.
  const tap = openSubscriber(redis, 'ws-route-test-tap');
  await tap.connect();
  const channels: string[] = [];
  tap.on('pmessage', (_pattern: string, channel: string) => channels.push(channel));
  await tap.psubscribe(`${keys.wakeChannelPrefix(config.redis.keyPrefix)}*`);
  return { channels, close: () => tap.disconnect() };
}

describe('ws-server: wakes go only to the instances that hold the user', () => {
  const pair = wsServerPairSuite(config);
  const { clients, authed } = pair;
  // Set once the pair's before hook (registered first, so run first) has started them.
  let a: WsServerService, b: WsServerService, consumer: SimulatedConsumer;
  before(() => ({ a, b, consumer } = pair));
  /** A PING answered: every frame the instance sent the socket before it has arrived. */
  const settled = async (client: WsTestClient) => {
    client.send({ type: 'PING' });
    await client.next('PONG');
  };
  const route = (userId: string) => consumer.redis.zrange(keys.wsRoute(userId), 0, -1);

  it('each instance hears only the wakes of its own users; every socket gets each notification once, a user on both gets it on both', async () => {
    assert.notEqual(a.instanceId, b.instanceId);
    const [, subsA] = (await consumer.redis.pubsub(
      'NUMSUB',
      keys.wakeChannel(config.redis.keyPrefix, a.instanceId),
    )) as [string, number];
    assert.equal(subsA, 1, 'A listens on its own channel');
    const onA = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'];
    const onB = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5'];
    const sockets = new Map<WsTestClient, string>();
    for (const u of onA) sockets.set(await authed(a, u), u);
    for (const u of onB) sockets.set(await authed(b, u), u);
    sockets.set(await authed(a, 'both'), 'both');
    sockets.set(await authed(b, 'both'), 'both');
    assert.deepEqual((await route('both')).sort(), [a.instanceId, b.instanceId].sort());
    assert.deepEqual(await route('a0'), [a.instanceId]);

    const [beforeA, beforeB] = [await wakes(a), await wakes(b)];
    const perUser = 5;
    const sent = new Map<string, string[]>();
    for (const u of [...onA, ...onB, 'both']) {
      const ids: string[] = [];
      for (let i = 0; i < perUser; i++) ids.push((await consumer.deliver(await consumer.make(u))).id);
      sent.set(u, ids);
    }
    for (const [client, u] of sockets) {
      await client.waitForNotifications(perUser);
      await settled(client);
      assert.deepEqual(client.notificationIds(), sent.get(u), `${u}: each notification once, in order`);
    }
    const [afterA, afterB] = [await wakes(a), await wakes(b)];
    // Before routing, both would have heard all 13 users' 65 wakes.
    assert.deepEqual(
      { a: afterA.handled - beforeA.handled, b: afterB.handled - beforeB.handled },
      { a: (onA.length + 1) * perUser, b: (onB.length + 1) * perUser },
      "each instance's wakes: its own users' only",
    );
    assert.deepEqual(
      [afterA.dropped - beforeA.dropped, afterB.dropped - beforeB.dropped],
      [0, 0],
      'none heard in vain',
    );
  });

  it("a user's last socket closing on an instance takes the instance out of the route; the other goes on alone", async () => {
    const leaving = await authed(a, 'mover');
    const staying = await authed(b, 'mover');
    assert.deepEqual((await route('mover')).sort(), [a.instanceId, b.instanceId].sort());
    leaving.close();
    await eventually(async () => (await route('mover')).length === 1 || undefined, { what: 'A out of the route' });
    assert.deepEqual(await route('mover'), [b.instanceId]);
    const heardByA = (await wakes(a)).handled + (await wakes(a)).dropped;
    const n = await consumer.deliver(await consumer.make('mover'));
    await staying.waitForNotifications(1);
    assert.equal(staying.notificationIds()[0], n.id);
    const nowA = await wakes(a);
    assert.equal(nowA.handled + nowA.dropped, heardByA, 'A heard nothing');
  });

  it('a registration Redis lost is found by the next refresh round, and the socket gets what was committed meanwhile', async () => {
    const client = await authed(b, 'forgotten');
    const lapsedBefore = await metric(b, 'ws_route_lapsed_total');
    // As a failover that lost the write would leave it: no instance holds the user, for Redis.
    await consumer.redis.del(keys.wsRoute('forgotten'));
    const n = await consumer.buffer(await consumer.make('forgotten'));
    assert.equal(await consumer.push(n), 0, 'the wake reached no one');
    // Without the lapse check nothing would ever bring it before a reconnect.
    const [frame] = await client.waitForNotifications(1);
    assert.equal(frame?.notification.id, n.id);
    assert.ok((await metric(b, 'ws_route_lapsed_total')) > lapsedBefore);
    assert.deepEqual(await route('forgotten'), [b.instanceId], 'registered again');
  });

  it('AUTH racing a commit (200 times): a notification committed before the AUTH read is replayed, one after it is woken; never lost, never twice', async () => {
    const settings = commitSettings(config, { rateLimitActorPerMinute: 0, rateLimitRecipientPerMinute: 0 });
    const lapsedBefore = (await metric(a, 'ws_route_lapsed_total')) + (await metric(b, 'ws_route_lapsed_total'));
    const replayed = { before: 0, woken: 0 };
    const race = async (i: number) => {
      const userId = `race-${i}`;
      const client = await WsTestClient.connect((i % 2 === 0 ? a : b).port);
      clients.push(client);
      const token = await signUserToken(userId, config.auth.jwtSecret);
      const input: CommitInput = {
        event: {
          type: 'LIKE',
          actorId: `actor-${i}`,
          targetId: userId,
          postId: `post-${i}`,
          eventId: `race-evt-${i}`,
        } as ParsedEvent,
        decision: { action: 'deliver' },
        actorName: `Actor ${i}`,
      };
      // The AUTH and the commit leave together, the commit 0-9 ms later: both orders happen.
      client.send({ type: 'AUTH', token });
      await sleep(i % 10);
      const [result] = await commitEvents(consumer.redis, settings, [input]);
      assert.ok(result && !(result instanceof Error) && result.outcome === 'created');
      const ok = await client.next('AUTH_OK');
      const [frame] = await client.waitForNotifications(1);
      assert.equal(frame?.notification.id, result.notificationId);
      await settled(client);
      assert.equal(client.notifications().length, 1, `${userId}: exactly once`);
      if (ok.pending === 1) replayed.before += 1;
      else replayed.woken += 1;
      client.close();
    };
    for (let i = 0; i < 200; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => race(i + k)));
    // Both sides of the race were exercised (otherwise the test proves less than it says).
    assert.ok(replayed.before > 0 && replayed.woken > 0, JSON.stringify(replayed));
    // No delivery came from the lapse safety net: the AUTH registration itself closed the race.
    assert.equal((await metric(a, 'ws_route_lapsed_total')) + (await metric(b, 'ws_route_lapsed_total')), lapsedBefore);
  });

  it('an instance that dies without cleanup stays in the route only until its TTL; then no wake is published to it', async () => {
    const ttlMs = 1000;
    const child = await startWsProcess({ ...env, WS_ROUTE_TTL_MS: String(ttlMs), WS_ROUTE_REFRESH_MS: '300' });
    const tap = await wakeTap(consumer.redis);
    try {
      await authed({ port: child.port }, 'ghost');
      const alive = await authed(a, 'ghost');
      assert.deepEqual((await route('ghost')).sort(), [a.instanceId, child.instanceId].sort());
      child.proc.kill('SIGKILL');
      await once(child.proc, 'exit');
      // Still listed right after the crash: nothing removed it.
      assert.ok((await route('ghost')).includes(child.instanceId));
      const first = await consumer.deliver(await consumer.make('ghost'));
      await alive.waitForNotifications(1);
      await eventually(() => tap.channels.length === 2, { what: 'the wake on both channels' });
      assert.ok(
        tap.channels.includes(keys.wakeChannel(config.redis.keyPrefix, child.instanceId)),
        'published to the dead instance while its entry lasted',
      );

      await sleep(ttlMs + 200);
      tap.channels.length = 0;
      const second = await consumer.deliver(await consumer.make('ghost'));
      await alive.waitForNotifications(2);
      await settled(alive);
      assert.deepEqual(alive.notificationIds(), [first.id, second.id]);
      assert.deepEqual(
        tap.channels,
        [keys.wakeChannel(config.redis.keyPrefix, a.instanceId)],
        'the expired instance gets no wake',
      );
      await eventually(async () => (await route('ghost')).length === 1 || undefined, {
        what: "A's next refresh to prune the dead entry",
      });
      assert.deepEqual(await route('ghost'), [a.instanceId]);
    } finally {
      tap.close();
      child.proc.kill('SIGKILL');
    }
  });
});

/** ws-server/main.ts in a process of its own (from source), so it can die without running any cleanup. */
async function startWsProcess(
  vars: Record<string, string>,
): Promise<{ proc: ChildProcess; port: number; instanceId: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'ws-server/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...vars, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  try {
    return await untilOutput(
      proc,
      () => output,
      (text) => {
        const line = text.split('\n').find((l) => l.includes('ws-server listening'));
        if (!line) return undefined;
        const parsed = JSON.parse(line) as { port: number; instanceId: string };
        return { proc, port: parsed.port, instanceId: parsed.instanceId };
      },
      { what: 'the ws-server process to listen' },
    );
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
}
