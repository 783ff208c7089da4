import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import amqplib from 'amqplib';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { allQueues, declareTopology, eventsQueueList, QUORUM_DELIVERY_LIMIT } from '../../shared/amqp/topology.js';
import { withTimeout } from '../../shared/lifecycle.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { transactionalOvertakesPromotional } from '../helpers/priority-check.js';
import { NODES, rabbitCluster, type NodeNumber } from '../helpers/rabbitmq-cluster.js';
import { eventually } from '../helpers/wait.js';

/**
 * Quorum queues on the local 3-node cluster (scripts/rabbitmq-cluster.sh, brought up here if it
 * is not running): what AMQP_QUEUE_TYPE=quorum promises when a broker node goes away. The
 * node leading a queue is crashed (SIGKILL) or stopped, and what the broker confirmed, or was
 * dead-lettering at the time, is read back from a surviving node.
 */

const PREFETCH = 10;
const { config } = testEnv('amqpquorum', {
  RABBITMQ_URL: rabbitCluster.urls(),
  AMQP_QUEUE_TYPE: 'quorum',
  // One retry rung of 1 s: the delay queue the dead-lettering test goes through.
  RETRY_BASE_DELAY_MS: '1000',
  RETRY_MAX_ATTEMPTS: '1',
  CONSUMER_PREFETCH: String(PREFETCH),
  RATE_LIMIT_RECIPIENT_PER_MINUTE: '100000',
  PERSIST_DELAY_MS: '600000',
  CONNECT_TIMEOUT_MS: '20000',
});

describe('quorum queues on a 3-node RabbitMQ cluster', () => {
  let amqp: AmqpClient;
  /** Nodes a test took down; started again before the next test and at the end. */
  const down = new Set<NodeNumber>();
  const running = (): NodeNumber => NODES.find((n) => !down.has(n))!;

  const restartDownNodes = async () => {
    for (const n of [...down]) {
      await rabbitCluster.startNode(n);
      down.delete(n);
    }
  };
  const leaderOf = async (queue: string): Promise<NodeNumber> => {
    const replicas = await eventually(
      async () =>
        (await rabbitCluster.queues(running())).find(
          (q) => q.name === queue && q.leader !== '' && !down.has(rabbitCluster.numberOf(q.leader)),
        ),
      { what: `a live leader of ${queue}`, timeoutMs: 60_000, intervalMs: 500 },
    );
    return rabbitCluster.numberOf(replicas.leader);
  };

  /**
   * Reads `queue` on node `via` until `expected` distinct message ids came out, and returns how
   * many deliveries that took (more than `expected` means duplicates). While the queue elects a
   * leader, a get fails and closes the channel: a new one is opened and the read goes on.
   */
  async function drainFrom(
    via: NodeNumber,
    queue: string,
    expected: Set<string>,
  ): Promise<{ ids: Set<string>; deliveries: number; reasons: Set<string> }> {
    const conn = await amqplib.connect(rabbitCluster.urlOf(via));
    const ids = new Set<string>();
    const reasons = new Set<string>();
    let deliveries = 0;
    try {
      let ch: amqplib.Channel | undefined;
      await eventually(
        async () => {
          try {
            ch ??= await conn.createChannel();
            for (
              let msg = await ch.get(queue, { noAck: true });
              msg !== false;
              msg = await ch.get(queue, { noAck: true })
            ) {
              deliveries++;
              ids.add(String(msg.properties.messageId));
              const death = (msg.properties.headers?.['x-death'] as Array<{ reason: string }> | undefined)?.[0];
              if (death) reasons.add(death.reason);
            }
          } catch (err) {
            ch = undefined;
            throw err;
          }
          return [...expected].every((id) => ids.has(id));
        },
        {
          what: `all ${expected.size} messages on ${queue} via node ${via} (have ${ids.size})`,
          timeoutMs: 90_000,
          intervalMs: 250,
        },
      );
    } finally {
      await conn.close().catch(() => undefined);
    }
    return { ids, deliveries, reasons };
  }

  // A cluster this file booted is taken down again, so three idle nodes do not share the CPU with
  // the rest of `npm test`; one that was already up (a developer's) is left as found.
  let bootedHere = false;
  before(async () => {
    bootedHere = !(await rabbitCluster.anyNodeAnswering());
    await rabbitCluster.up();
    amqp = await connectAmqp(config, testLogger);
  });
  after(async () => {
    await amqp?.close();
    await restartDownNodes();
    await cleanupTestResources(config);
    if (bootedHere) await rabbitCluster.down();
  });

  it('declares every queue as a quorum queue with a replica on each node, work queues guarded against poison', async () => {
    const listed = await rabbitCluster.queues(1);
    for (const name of allQueues(amqp.topology)) {
      const q = listed.find((l) => l.name === name);
      assert.ok(q, `${name} is declared`);
      assert.equal(q.type, 'quorum', name);
      assert.equal(q.members.length, 3, `${name} has a replica on each node`);
    }
    // No classic queue under this prefix: nothing of the classic topology was declared beside it.
    const prefix = config.rabbitmq.namePrefix;
    assert.deepEqual(
      listed.filter((l) => l.name.startsWith(prefix) && l.type !== 'quorum').map((l) => l.name),
      [],
    );
    // The poison guard as the broker holds it: each work queue dead-letters a message returned
    // QUORUM_DELIVERY_LIMIT times to its dead-letter queue (RabbitMQ 3.x has no limit by default).
    const t = amqp.topology;
    const workQueues: Array<[string, string]> = [
      ...eventsQueueList(t).map((q): [string, string] => [q, t.eventsDeadQueue]),
      [t.persistQueue, t.persistDeadQueue],
      [t.acksQueue, t.persistDeadQueue],
      [t.fanoutQueue, t.fanoutDeadQueue],
      [t.wakeDueQueue, t.wakeDeadQueue],
    ];
    const declared = await rabbitCluster.queueArguments(1);
    for (const [queue, dead] of workQueues) {
      const args = declared.get(queue);
      assert.ok(args, `${queue} is declared`);
      assert.equal(args['x-delivery-limit'], QUORUM_DELIVERY_LIMIT, `${queue} has a delivery limit`);
      assert.equal(args['x-dead-letter-routing-key'], dead, `${queue} dead-letters to ${dead}`);
    }
  });

  it('a confirmed message survives a crash of the node leading its queue; the client fails over to another node', async () => {
    const queue = amqp.topology.eventsQueues.transactional;
    const publisher = await amqp.createChannel('test-publisher');
    const ids = Array.from({ length: 200 }, (_, i) => `survivor-${i}`);
    await Promise.all(
      ids.map((id) => publisher.sendToQueue(queue, Buffer.from(id), { persistent: true, messageId: id })),
    );

    const leader = await leaderOf(queue);
    await rabbitCluster.killNode(leader);
    down.add(leader);

    // The pipeline's own connection (RABBITMQ_URL lists all three) comes back on a survivor: a
    // publish through it is confirmed again. The queue was declared through that connection, so
    // its leader was that connection's node, the one just killed.
    await eventually(() => amqp.isConnected(), {
      what: 'the AMQP client to reconnect to a surviving node',
      timeoutMs: 30_000,
    });
    await withTimeout(
      publisher.sendToQueue(queue, Buffer.from('after'), { persistent: true, messageId: 'after-the-crash' }),
      60_000,
      () => new Error('a publish after the crash was not confirmed'),
    );

    const survivor = running();
    const read = await drainFrom(survivor, queue, new Set([...ids, 'after-the-crash']));
    assert.equal(read.ids.size, ids.length + 1, 'every confirmed message, none lost');
    assert.equal(read.deliveries, ids.length + 1, 'each once');
    assert.notEqual(await leaderOf(queue), leader, 'a surviving node leads the queue now');
    await publisher.close();
    await restartDownNodes();
  });

  it('dead-letters at least once from a delay queue into a work queue whose leader stops: nothing lost', async () => {
    const delayQueue = amqp.topology.eventsRetryQueues.social[0]!;
    const target = amqp.topology.eventsQueues.social;
    const source = await leaderOf(delayQueue);
    const targetNode = NODES.find((n) => n !== source)!;
    // The target, still empty, is declared again from its future leader's node (a new quorum
    // queue starts with its leader on the node of the connection that declares it), so the node
    // that stops leads the target but not the delay queue: the delay queue keeps expiring
    // messages into a queue that has no leader until the survivors elect one. At-most-once
    // dead-lettering drops what it sends then; at-least-once keeps and re-sends it.
    const declaring = await amqplib.connect(rabbitCluster.urlOf(targetNode));
    try {
      const ch = await declaring.createConfirmChannel();
      await ch.deleteQueue(target);
      await declareTopology(ch, amqp.topology);
    } finally {
      await declaring.close();
    }
    assert.equal(await leaderOf(target), targetNode);

    // Published through the delay queue's leader, with confirms, over ~3 s; the TTL is 1 s, so
    // messages expire before, during and after the target's leader stops.
    const conn = await amqplib.connect(rabbitCluster.urlOf(source));
    const sent = new Set<string>();
    let stopping: Promise<void> | undefined;
    try {
      const ch = await conn.createConfirmChannel();
      for (let i = 0; i < 60; i++) {
        if (i === 20) stopping = rabbitCluster.stopNode(targetNode).then(() => void down.add(targetNode));
        const id = `delayed-${i}`;
        await new Promise<void>((resolve, reject) =>
          ch.sendToQueue(delayQueue, Buffer.from(id), { persistent: true, messageId: id }, (err) =>
            err ? reject(err as Error) : resolve(),
          ),
        );
        sent.add(id);
        await sleep(50);
      }
      await stopping;
    } finally {
      await conn.close().catch(() => undefined);
    }
    assert.ok(down.has(targetNode), "the target's leader was stopped mid-stream");

    const read = await drainFrom(source, target, sent);
    assert.equal(read.ids.size, sent.size, 'every dead letter reached its work queue');
    assert.deepEqual([...read.reasons], ['expired']);
    await restartDownNodes();
  });

  describe('priority on quorum queues: transactional before promotional', () => {
    // Its resources go with the rest of the file's, in the outer after.
    const check = transactionalOvertakesPromotional(config);
    it('a SECURITY event published behind 500 PROMO events is processed among the first', () =>
      check({ promoBatches: 1, userId: 'qprio-user', prefetch: PREFETCH, timeoutMs: 90_000 }));
  });
});
