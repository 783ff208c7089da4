import type { ConfirmChannel } from 'amqplib';
import type { Config } from '../config.js';
import { CATEGORIES, EVENTS_MAX_PRIORITY, type Category } from '../priority.js';

/**
 * Every exchange and queue of the pipeline, named and declared here and nowhere else.
 *
 * Delays live in the broker: a retry or a delayed persist job waits in a queue whose
 * `x-message-ttl` dead-letters it back into its work queue when it expires, so a process that
 * dies while a message waits loses nothing. The TTL is part of the queue's name because
 * RabbitMQ refuses to redeclare a queue with different arguments: changing a delay in config
 * creates new queues instead of failing start-up.
 *
 * Every queue is of one type, AMQP_QUEUE_TYPE. For the same reason as the TTL, quorum queues
 * carry the type in their name (`notify.quorum.…`): a broker refuses to redeclare a classic
 * queue as a quorum one, so switching a deployment to quorum creates a second set of queues
 * beside the classic one instead of failing start-up (docs/deploy.md, "Quorum queues", says how
 * to drain the old set). The classic names are the ones every earlier release declared.
 *
 * Priority: classic queues have message priority, quorum queues on RabbitMQ 3.x have none. On
 * classic the events queue is one priority queue (x-max-priority); on quorum there is one
 * events queue per category, each with its own retry ladder, and the consumer orders what it is
 * delivered (consumer/priority-order.ts). `eventsQueues` maps each category to its queue, the same
 * queue for all three on classic, so producers and consumers need not know which.
 */

export { EVENTS_MAX_PRIORITY } from '../priority.js';

export type QueueType = 'classic' | 'quorum';
export const QUEUE_TYPES: readonly QueueType[] = ['classic', 'quorum'];

/**
 * Returns of one message a quorum work queue allows before it dead-letters the message to the
 * queue's dead-letter queue (x-death reason `delivery_limit`): a message that keeps killing its
 * consumer is poison. Set explicitly so RabbitMQ 3.x and 4.x behave alike: 4.x has a default of
 * 20 and, without a dead-letter target, drops such a message. What counts depends on the broker
 * (docs/deploy.md "What counts toward the delivery limit"): a consumer that died or closed its
 * channel with the message unacked counts on every version, which is all this project relies
 * on; a nack with requeue counts up to RabbitMQ 4.2 only. The envelope's retries are new copies
 * and start from zero.
 *
 * Frozen. RabbitMQ compares x-delivery-limit whenever a queue is declared again, and it is not
 * part of the queue's name (as the TTLs and the queue type are): a release that changed it would
 * stop at start-up on every existing quorum deployment (406 PRECONDITION_FAILED). It stays out of
 * the names because renaming a work queue strands what it holds, where a renamed delay queue's
 * messages still expire into their work queue. Changing it takes new names and a drain
 * (docs/deploy.md); test/unit/topology.test.ts holds the value.
 */
export const QUORUM_DELIVERY_LIMIT = 20;

export interface Topology {
  queueType: QueueType;
  /**
   * Incoming activity events, consumed by the consumer: each category's queue (one priority
   * queue shared by all three on classic, one queue per category on quorum).
   */
  eventsQueues: Record<Category, string>;
  /** Retry queues per category, one per attempt, with exponentially growing TTLs; each dead-letters into its category's queue. */
  eventsRetryQueues: Record<Category, string[]>;
  /** Events that can never be processed (poison, or retries exhausted), with the reason. */
  eventsDeadQueue: string;
  /** Delayed persist jobs wait here for PERSIST_DELAY_MS, then dead-letter to persistQueue. */
  persistDelayQueue: string;
  /** Persist jobs and their retries, consumed by jobs in batches. */
  persistQueue: string;
  persistRetryQueues: string[];
  persistDeadQueue: string;
  /** Acks from ws-servers, consumed by jobs to mark stored notifications delivered. */
  acksQueue: string;
  /** Retry queues for ack batches whose write failed; their dead letters share persistDeadQueue. */
  acksRetryQueues: string[];
  /**
   * Follower fan-out pages (one POST event → pages of followers), consumed on their own channel
   * with a small prefetch so direct events on the events queues are never queued behind them.
   */
  fanoutQueue: string;
  fanoutRetryQueues: string[];
  fanoutDeadQueue: string;
  /**
   * Wake-ups held back by a do-not-disturb window: a ladder of TTL queues (shortest first) that
   * dead-letter into wakeDueQueue, where the consumer re-queues them on the right rung until
   * they are due, then publishes the wake. Per-message TTLs would block behind a longer one.
   */
  wakeDelayQueues: string[];
  wakeDueQueue: string;
  /** Delayed wakes that can never be forwarded (a body that is not a delayed wake), with the reason. */
  wakeDeadQueue: string;
}

/** Rungs of the delayed-wake ladder; a wait takes at most a few hops per rung. */
export const WAKE_DELAY_RUNGS_MS = [250, 2000, 15_000, 120_000, 900_000, 3_600_000];

export function retryDelaysMs(baseDelayMs: number, attempts: number): number[] {
  return Array.from({ length: attempts }, (_, i) => baseDelayMs * 2 ** i);
}

function byCategory<T>(make: (c: Category) => T): Record<Category, T> {
  return Object.fromEntries(CATEGORIES.map((c) => [c, make(c)])) as Record<Category, T>;
}

export function createTopology(config: Pick<Config, 'rabbitmq' | 'pipeline' | 'persist'>): Topology {
  const queueType = config.rabbitmq.queueType;
  const p = `${config.rabbitmq.namePrefix}notify.${queueType === 'quorum' ? 'quorum.' : ''}`;
  // Two ladders of the same rungs but different lengths: the consumer gives up on an event after
  // its last rung (dead letter), jobs stays on its last rung until the store is back.
  const consumerDelays = retryDelaysMs(config.pipeline.retryBaseDelayMs, config.pipeline.retriesBeforeDeadLetter);
  const jobsDelays = retryDelaysMs(config.pipeline.retryBaseDelayMs, config.persist.retryLadderRungs);
  const eventsQueues = byCategory((c) => (queueType === 'quorum' ? `${p}events.${c}` : `${p}events`));
  return {
    queueType,
    eventsQueues,
    eventsRetryQueues: byCategory((c) => consumerDelays.map((ms) => `${eventsQueues[c]}.retry.${ms}ms`)),
    eventsDeadQueue: `${p}events.dead`,
    persistDelayQueue: `${p}persist.delay.${config.persist.delayMs}ms`,
    persistQueue: `${p}persist`,
    persistRetryQueues: jobsDelays.map((ms) => `${p}persist.retry.${ms}ms`),
    persistDeadQueue: `${p}persist.dead`,
    acksQueue: `${p}acks`,
    acksRetryQueues: jobsDelays.map((ms) => `${p}acks.retry.${ms}ms`),
    fanoutQueue: `${p}fanout`,
    fanoutRetryQueues: consumerDelays.map((ms) => `${p}fanout.retry.${ms}ms`),
    fanoutDeadQueue: `${p}fanout.dead`,
    wakeDelayQueues: WAKE_DELAY_RUNGS_MS.map((ms) => `${p}wake.delay.${ms}ms`),
    wakeDueQueue: `${p}wake.due`,
    wakeDeadQueue: `${p}wake.dead`,
  };
}

/** The distinct events queues, highest category first: one on classic, three on quorum. */
export function eventsQueueList(t: Topology): string[] {
  return [...new Set(CATEGORIES.map((c) => t.eventsQueues[c]))];
}

/** The categories whose events go to `queue` (all three for the classic priority queue). */
export function categoriesOf(t: Topology, queue: string): Category[] {
  return CATEGORIES.filter((c) => t.eventsQueues[c] === queue);
}

/** Parses the TTL back out of a delay queue's name, so declaration needs no second table. */
function ttlOf(queue: string): number {
  const match = /\.(\d+)ms$/.exec(queue);
  if (!match?.[1]) throw new Error(`delay queue without a TTL in its name: ${queue}`);
  return Number(match[1]);
}

type QueueArguments = Record<string, unknown>;

/**
 * Dead-lettering a quorum queue does itself (TTL expiry here, the delivery limit) is at-least-once:
 * the message stays in the source queue until the target confirmed it, so a target whose leader
 * is being re-elected, or a node that dies mid-transfer, loses nothing (at worst the target gets
 * it twice; every consumer is idempotent). RabbitMQ requires `reject-publish` overflow for that
 * strategy (3.10+, with the stream_queue feature flag every 3.9+ cluster has); none of these
 * queues has a length limit, so it never rejects a publish. Classic queues have only the
 * at-most-once kind, which is why quorum is the production setting (docs/reliability.md).
 */
function deadLetterTo(t: Topology, target: string): QueueArguments {
  const args: QueueArguments = { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': target };
  if (t.queueType === 'quorum')
    Object.assign(args, { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' });
  return args;
}

async function declareQueue(
  channel: ConfirmChannel,
  t: Topology,
  queue: string,
  args: QueueArguments = {},
): Promise<void> {
  const typed = t.queueType === 'quorum' ? { 'x-queue-type': 'quorum', ...args } : args;
  await channel.assertQueue(queue, { durable: true, arguments: typed });
}

/** A queue consumers work from; on quorum, a message past QUORUM_DELIVERY_LIMIT returns goes to `deadQueue`. */
async function declareWorkQueue(
  channel: ConfirmChannel,
  t: Topology,
  queue: string,
  deadQueue: string,
  args: QueueArguments = {},
): Promise<void> {
  const guard =
    t.queueType === 'quorum' ? { ...deadLetterTo(t, deadQueue), 'x-delivery-limit': QUORUM_DELIVERY_LIMIT } : {};
  await declareQueue(channel, t, queue, { ...guard, ...args });
}

async function declareDelayQueue(channel: ConfirmChannel, t: Topology, queue: string, target: string): Promise<void> {
  await declareQueue(channel, t, queue, { 'x-message-ttl': ttlOf(queue), ...deadLetterTo(t, target) });
}

/**
 * Declares the whole topology. Idempotent; amqp-connection-manager runs it again on every
 * reconnect so a broker that lost its (non-durable) state is repaired before anyone publishes.
 * Dead-letter queues first: they are what the others dead-letter into.
 */
export async function declareTopology(channel: ConfirmChannel, t: Topology): Promise<void> {
  for (const queue of [t.eventsDeadQueue, t.persistDeadQueue, t.fanoutDeadQueue, t.wakeDeadQueue])
    await declareQueue(channel, t, queue);

  // Classic: the one priority queue. Quorum: a queue per category, no priority argument (3.x
  // refuses it on a quorum queue; 4.x would accept it but have only two levels).
  const priority = t.queueType === 'classic' ? { 'x-max-priority': EVENTS_MAX_PRIORITY } : {};
  for (const queue of eventsQueueList(t)) await declareWorkQueue(channel, t, queue, t.eventsDeadQueue, priority);
  // Each rung once: on classic the three categories share one ladder.
  const rungs = new Map(
    CATEGORIES.flatMap((c) => t.eventsRetryQueues[c].map((queue) => [queue, t.eventsQueues[c]] as const)),
  );
  for (const [queue, target] of rungs) await declareDelayQueue(channel, t, queue, target);

  await declareWorkQueue(channel, t, t.persistQueue, t.persistDeadQueue);
  await declareDelayQueue(channel, t, t.persistDelayQueue, t.persistQueue);
  for (const queue of t.persistRetryQueues) await declareDelayQueue(channel, t, queue, t.persistQueue);

  await declareWorkQueue(channel, t, t.acksQueue, t.persistDeadQueue);
  for (const queue of t.acksRetryQueues) await declareDelayQueue(channel, t, queue, t.acksQueue);
  // Wakes travel on Redis pub/sub (keys.wakeChannel); the notify.wake exchange of older versions
  // is no longer declared, and an operator may delete it once no old ws-server is running.

  await declareWorkQueue(channel, t, t.fanoutQueue, t.fanoutDeadQueue);
  for (const queue of t.fanoutRetryQueues) await declareDelayQueue(channel, t, queue, t.fanoutQueue);

  await declareWorkQueue(channel, t, t.wakeDueQueue, t.wakeDeadQueue);
  for (const queue of t.wakeDelayQueues) await declareDelayQueue(channel, t, queue, t.wakeDueQueue);
}

/** Every queue name in the topology; used by tests to clean up their prefix. */
export function allQueues(t: Topology): string[] {
  const names = [
    ...eventsQueueList(t),
    ...CATEGORIES.flatMap((c) => t.eventsRetryQueues[c]),
    t.eventsDeadQueue,
    t.persistDelayQueue,
    t.persistQueue,
    ...t.persistRetryQueues,
    t.persistDeadQueue,
    t.acksQueue,
    ...t.acksRetryQueues,
    t.fanoutQueue,
    ...t.fanoutRetryQueues,
    t.fanoutDeadQueue,
    ...t.wakeDelayQueues,
    t.wakeDueQueue,
    t.wakeDeadQueue,
  ];
  return [...new Set(names)];
}
