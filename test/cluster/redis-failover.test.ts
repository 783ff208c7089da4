import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis as RedisServer } from 'ioredis';
import { signUserToken } from '../../shared/auth/jwt.js';
import { keys } from '../../shared/keys.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { ClientFleet } from '../helpers/faults/clients.js';
import { printTable, reconcile, settled } from '../helpers/faults/ledger.js';
import { runLoad } from '../helpers/faults/load.js';
import { assertLiveDelivery } from '../helpers/faults/scenario.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { ROOT } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient, replayCounts } from '../helpers/ws-client.js';

/*
 * Redis Cluster failover under the pipeline (docs/reliability.md "Redis failover"): the four
 * services (in this process) on the local cluster of scripts/redis-cluster.sh (3 masters, 3
 * replicas; started here if it is not up, and then taken down again at the end), RabbitMQ and
 * FerretDB as every other test uses them.
 *
 * 1. A master is SIGKILLed under a steady load of ACKing clients: its replica takes over; nothing
 *    accepted is lost, stored twice or shown again after its ACKED.
 * 2. A failover that does lose acknowledged writes, made deterministic: the replica is down while
 *    its master accepts commits and ACKs, then the master dies and the stale replica takes over.
 *    What the design keeps and what it loses, exactly as the reliability doc says.
 */
process.env.TEST_REDIS_CLUSTER ??= '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003';

const exec = promisify(execFile);
const redisCluster = async (...args: string[]) =>
  (await exec('bash', ['scripts/redis-cluster.sh', ...args], { cwd: ROOT, timeout: 180_000 })).stdout;

/** Whether a Redis answers on the port (the cluster's first node). */
async function nodeAnswers(port: number): Promise<boolean> {
  try {
    const { stdout } = await exec('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING'], { timeout: 5000 });
    return stdout.trim() === 'PONG';
  } catch {
    return false;
  }
}

interface Shard {
  master: number;
  replica: number;
}

/** The master serving the user's hash slot, and its replica, from CLUSTER NODES. */
async function shardOf(redis: Redis, userId: string): Promise<Shard> {
  const slot = Number(await redis.cluster('KEYSLOT', keys.userTag(userId)));
  const nodes = String(await redis.cluster('NODES'))
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.split(' ');
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(address!)?.[1]),
        flags: flags!.split(','),
        masterId: masterId!,
        slots,
      };
    });
  const owns = (ranges: string[]) =>
    ranges.some((r) => {
      const [from, to = from] = r.split('-').map(Number);
      return slot >= from! && slot <= to!;
    });
  const master = nodes.find((n) => n.flags.includes('master') && !n.flags.includes('fail') && owns(n.slots));
  const replica = nodes.find((n) => master && n.masterId === master.id && !n.flags.includes('fail'));
  assert.ok(master && replica, `slot ${slot}: a master with a live replica`);
  return { master: master.port, replica: replica.port };
}

async function role(port: number): Promise<string> {
  const node = new RedisServer({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await node.connect();
    return String(((await node.role()) as unknown[])[0]);
  } catch {
    return 'down';
  } finally {
    node.disconnect();
  }
}

describe('Redis Cluster failover under the pipeline', { timeout: 15 * 60_000 }, () => {
  let p: Pipeline;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;

  // A cluster this file booted is taken down again: six idle nodes would otherwise outlive the
  // run, and another checkout's run would meet nodes whose PID files it does not have.
  let bootedHere = false;

  before(async () => {
    bootedHere = !(await nodeAnswers(7001));
    await redisCluster('up');
    p = await startPipeline('redisfailover', {
      // Scenario 2 kills the master within this delay of its commits, so jobs stores them after.
      PERSIST_DELAY_MS: '6000',
      PERSIST_FLUSH_MS: '100',
      RATE_LIMIT_ACTOR_PER_MINUTE: '1000000',
      RATE_LIMIT_RECIPIENT_PER_MINUTE: '1000000',
      ACK_TIMEOUT_MS: '3000',
      RETRY_BASE_DELAY_MS: '500',
    });
    assert.ok(p.config.redis.cluster, 'the pipeline runs on the cluster');
    redis = await connectRedis(p.config, testLogger, 'test');
    mongo = await connectMongo({ ...p.config, mongo: { ...p.config.mongo, queryTimeoutMs: 60_000 } }, testLogger);
    m = models(mongo);
  });
  after(async () => {
    await mongo?.close();
    if (redis) await closeRedis(redis);
    await p?.close();
    // Whatever a scenario left down comes back, as replicas of the masters that took over.
    await redisCluster('up');
    if (bootedHere) await redisCluster('down');
  });

  it('a master dies under load: its replica takes over; nothing accepted is lost, stored twice or shown again after ACKED', async () => {
    const users = Array.from({ length: 30 }, (_, i) => `fo-user${i}`);
    const fleet = new ClientFleet(users, { ports: () => [p.wsPort], token: (u) => p.token(u) });
    try {
      fleet.connectAll();
      await eventually(() => fleet.readyCount() === users.length, {
        what: 'every client authenticated',
        timeoutMs: 60_000,
      });
      const runId = `f${Date.now().toString(36)}`;
      const load = runLoad({
        runId,
        users,
        count: 450,
        ratePerSecond: 30,
        producerUrl: () => p.producerUrl,
        perEventDeadlineMs: 120_000,
      });
      await sleep(4000);
      const killed = await redisCluster('kill-master');
      console.log(killed.trim());
      const result = await load;
      assert.deepEqual(result.unexpected, [], 'every POST ends with a 202');

      const isSettled = () => settled(result.accepted, fleet.records(), m);
      const ok = await eventually(isSettled, {
        what: 'the pipeline to settle',
        timeoutMs: 60_000,
        intervalMs: 1000,
      }).catch(() => false);
      if (!ok) {
        // A wake is a hint; the AUTH replay is the guarantee (docs/protocol.md).
        fleet.reconnectAll();
        await eventually(isSettled, {
          what: 'the pipeline to settle after reconnects',
          timeoutMs: 60_000,
          intervalMs: 1000,
        }).catch(() => false);
      }
      const row = {
        ...(await reconcile('SIGKILL a Redis master', runId, result.accepted, fleet.records(), m, redis)),
        retriedPosts: result.retried,
        neededReconnect: !ok,
      };
      console.log(printTable([row]));
      assert.equal(row.lost, 0, row.problems.join('; '));
      assert.equal(row.delivered, row.accepted, row.problems.join('; '));
      assert.equal(row.persisted, row.accepted, 'every notification stored exactly once');
      assert.equal(row.persistedTwice, 0, row.problems.join('; '));
      assert.equal(row.duplicateNotifications, 0, row.problems.join('; '));
      // What a killed master loses is what its replica had not received yet: here (loopback, the
      // replica alive) nothing an ACKED answered, so no ack is undone. The next test loses some.
      assert.equal(row.duplicatesAfterAck, 0, row.problems.join('; '));
      assert.equal(row.wrongState, 0, row.problems.join('; '));
      assertLiveDelivery(row);
    } finally {
      await fleet.stop();
      await redisCluster('up');
    }
  });

  it('a failover to a replica that missed writes: what it lost comes back from the persist jobs, nothing accepted is lost', async () => {
    const user = 'lossy';
    const token = await signUserToken(user, p.config.auth.jwtSecret);
    const order = (n: number) => ({
      type: 'ORDER',
      targetId: user,
      orderId: `order-${n}`,
      text: 'has shipped',
      eventId: `lossy-${n}-${Date.now()}`,
    });
    const stored = () =>
      m.Notification.find({ userId: user }, { status: 1, seq: 1 }).lean<
        Array<{ _id: string; status: string; seq: number }>
      >();
    const unread = async () => (await p.request('GET', `/users/${user}/notifications/unread-count`, user)).body.unread;
    const { master, replica } = await shardOf(redis, user);

    // Kept: a notification delivered, acked and replicated before anything goes wrong.
    const [first] = await WsTestClient.authed(p.wsPort, { token });
    assert.equal((await p.post('/events', order(0))).status, 202);
    const [kept] = await first.waitForNotifications(1);
    first.send({ type: 'ACK', notificationIds: [kept!.notification.id] });
    await first.next('ACKED');
    await sleep(1000); // replication on loopback takes microseconds; this is ample

    // The replica goes down; its master goes on alone and accepts five commits and their ACKs.
    await redisCluster('kill', String(replica));
    for (let n = 1; n <= 5; n++) assert.equal((await p.post('/events', order(n))).status, 202);
    const frames = (await first.waitForNotifications(6)).slice(1);
    const lostIds = frames.map((f) => f.notification.id);
    first.send({ type: 'ACK', notificationIds: lostIds });
    assert.deepEqual(
      new Set((await first.next('ACKED')).ids),
      new Set(lostIds),
      'the client was told all five are acked',
    );
    assert.equal(await unread(), 6);
    const lastSeq = Math.max(...frames.map((f) => f.notification.seq));

    // The master dies within PERSIST_DELAY_MS of those commits; the stale replica takes over.
    await redisCluster('kill', String(master));
    await redisCluster('up', String(replica));
    // A replica that was down does not elect itself (its data is too old); an operator forces it.
    await eventually(async () => (await role(replica)) === 'slave' || undefined, { what: 'the replica to answer' });
    const promoted = new RedisServer({ port: replica, host: '127.0.0.1' });
    await promoted.call('CLUSTER', 'FAILOVER', 'TAKEOVER').finally(() => promoted.disconnect());
    await eventually(async () => (await role(replica)) === 'master' || undefined, {
      what: 'the replica to take over',
      timeoutMs: 30_000,
    });
    await redisCluster('up'); // the old master rejoins as a replica and drops what only it had

    // Lost from Redis: the five copies, their ACKs, the unread increments, the seq counter's steps.
    assert.deepEqual(await redis.zrange(keys.inbox(user), 0, -1), [], 'the inbox is what the replica had: empty');
    assert.deepEqual(
      await Promise.all(lostIds.map((id) => redis.exists(keys.notification(user, id)))),
      [0, 0, 0, 0, 0],
      'the five buffered copies are gone',
    );

    // Kept: the persist jobs were in RabbitMQ before the events were acked, so jobs stores all
    // six; the five whose ACK Redis lost are stored undelivered.
    const docs = await eventually(
      async () => {
        const all = await stored();
        return all.length === 6 ? all : undefined;
      },
      { what: 'all six stored', timeoutMs: 60_000, intervalMs: 500 },
    );
    const byId = new Map(docs.map((d) => [d._id, d.status]));
    assert.equal(byId.get(kept!.notification.id), 'delivered', 'the ack the replica had is kept');
    assert.deepEqual(
      lostIds.map((id) => byId.get(id)),
      Array(5).fill('undelivered'),
      'the lost ACKs are not in MongoDB',
    );
    // The unread count lost its five increments with the commits (until it is rebuilt).
    assert.equal(await unread(), 1);

    // A client resuming with its lastSeq: it is above the seq counter the replica has (the
    // failover took the counter back), so the server ignores it and replays everything pending:
    // the five whose ACK was lost come once more, from MongoDB (the client library drops a
    // repeated id), and AUTH_OK tells the client to drop its resume point.
    first.close();
    const [resumed, resumedOk] = await WsTestClient.authed(p.wsPort, { token, lastSeq });
    assert.equal(resumedOk.resumeReset, true, `lastSeq ${lastSeq} is above the replica's seq`);
    assert.equal(resumedOk.catchingUp, true, 'jobs cleared the replay-clean mark: the copies were gone');
    assert.deepEqual(replayCounts(await resumed.next('REPLAY_DONE')), {
      type: 'REPLAY_DONE',
      pending: 5,
      recovered: true,
    });
    const again = resumed.notificationIds();
    assert.deepEqual(new Set(again), new Set(lostIds), 'the five lost ACKs, and nothing else, come again');
    const newPoint = resumedOk.seq!;
    assert.ok(newPoint < lastSeq, `the server's seq ${newPoint}, the client's new point, is below ${lastSeq}`);
    resumed.send({ type: 'ACK', notificationIds: again });
    await resumed.next('ACKED');
    // And the seq counter is the replica's: the next notification reuses a seq the client saw,
    // above the new point.
    assert.equal((await p.post('/events', order(6))).status, 202);
    const reissued = await eventually(() => resumed.notifications().find((f) => !lostIds.includes(f.notification.id)), {
      what: 'the notification after the failover',
    });
    const seq = reissued.notification.seq;
    assert.ok(seq <= lastSeq && seq > newPoint, `seq ${seq} reissued (client had ${lastSeq}, then ${newPoint})`);
    resumed.send({ type: 'ACK', notificationIds: [reissued.notification.id] });
    await resumed.next('ACKED');
    // Those ACKs store the five delivered at last.
    await eventually(async () => (await stored()).every((d) => d.status === 'delivered') || undefined, {
      what: 'everything stored as delivered',
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    resumed.close();
  });
});
