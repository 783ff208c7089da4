import type { ConfirmChannel } from 'amqplib';
import type { Config } from '../config.js';

/**
 * Every exchange and queue of the pipeline, named and declared here and nowhere else.
 *
 * Delays live in the broker: a retry or a delayed persist job waits in a queue whose
 * `x-message-ttl` dead-letters it back into its work queue when it expires, so a process that
 * dies while a message waits loses nothing. The TTL is part of the queue's name because
 * RabbitMQ refuses to redeclare a queue with different arguments: changing a delay in config
 * creates new queues instead of failing start-up.
 */

/** Highest AMQP priority used on the events queue; see shared/priority.ts for the levels. */
export const EVENTS_MAX_PRIORITY = 10;

export interface Topology {
  /** Incoming activity events, a priority queue, consumed by the consumer. */
  eventsQueue: string;
  /** Retry queues for events, one per attempt, with exponentially growing TTLs. */
  eventsRetryQueues: string[];
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
   * with a small prefetch so direct events on eventsQueue are never queued behind them.
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

export function createTopology(config: Pick<Config, 'rabbitmq' | 'pipeline' | 'persist'>): Topology {
  const p = config.rabbitmq.namePrefix;
  // Two ladders of the same rungs but different lengths: the consumer gives up on an event after
  // its last rung (dead letter), jobs stays on its last rung until the store is back.
  const consumerDelays = retryDelaysMs(config.pipeline.retryBaseDelayMs, config.pipeline.retriesBeforeDeadLetter);
  const jobsDelays = retryDelaysMs(config.pipeline.retryBaseDelayMs, config.persist.retryLadderRungs);
  return {
    eventsQueue: `${p}notify.events`,
    eventsRetryQueues: consumerDelays.map((ms) => `${p}notify.events.retry.${ms}ms`),
    eventsDeadQueue: `${p}notify.events.dead`,
    persistDelayQueue: `${p}notify.persist.delay.${config.persist.delayMs}ms`,
    persistQueue: `${p}notify.persist`,
    persistRetryQueues: jobsDelays.map((ms) => `${p}notify.persist.retry.${ms}ms`),
    persistDeadQueue: `${p}notify.persist.dead`,
    acksQueue: `${p}notify.acks`,
    acksRetryQueues: jobsDelays.map((ms) => `${p}notify.acks.retry.${ms}ms`),
    fanoutQueue: `${p}notify.fanout`,
    fanoutRetryQueues: consumerDelays.map((ms) => `${p}notify.fanout.retry.${ms}ms`),
    fanoutDeadQueue: `${p}notify.fanout.dead`,
    wakeDelayQueues: WAKE_DELAY_RUNGS_MS.map((ms) => `${p}notify.wake.delay.${ms}ms`),
    wakeDueQueue: `${p}notify.wake.due`,
    wakeDeadQueue: `${p}notify.wake.dead`,
  };
}

/** Parses the TTL back out of a delay queue's name, so declaration needs no second table. */
function ttlOf(queue: string): number {
  const match = /\.(\d+)ms$/.exec(queue);
  if (!match?.[1]) throw new Error(`delay queue without a TTL in its name: ${queue}`);
  return Number(match[1]);
}

async function declareDelayQueue(channel: ConfirmChannel, queue: string, target: string): Promise<void> {
  await channel.assertQueue(queue, {
    durable: true,
    arguments: {
      'x-message-ttl': ttlOf(queue),
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': target,
    },
  });
}

/**
 * Declares the whole topology. Idempotent; amqp-connection-manager runs it again on every
 * reconnect so a broker that lost its (non-durable) state is repaired before anyone publishes.
 */
export async function declareTopology(channel: ConfirmChannel, t: Topology): Promise<void> {
  await channel.assertQueue(t.eventsQueue, {
    durable: true,
    arguments: { 'x-max-priority': EVENTS_MAX_PRIORITY },
  });
  await channel.assertQueue(t.eventsDeadQueue, { durable: true });
  for (const queue of t.eventsRetryQueues) await declareDelayQueue(channel, queue, t.eventsQueue);

  await channel.assertQueue(t.persistQueue, { durable: true });
  await channel.assertQueue(t.persistDeadQueue, { durable: true });
  await declareDelayQueue(channel, t.persistDelayQueue, t.persistQueue);
  for (const queue of t.persistRetryQueues) await declareDelayQueue(channel, queue, t.persistQueue);

  await channel.assertQueue(t.acksQueue, { durable: true });
  for (const queue of t.acksRetryQueues) await declareDelayQueue(channel, queue, t.acksQueue);
  // Wakes travel on Redis pub/sub (keys.wakeChannel); the notify.wake exchange of older versions
  // is no longer declared, and an operator may delete it once no old ws-server is running.

  await channel.assertQueue(t.fanoutQueue, { durable: true });
  await channel.assertQueue(t.fanoutDeadQueue, { durable: true });
  for (const queue of t.fanoutRetryQueues) await declareDelayQueue(channel, queue, t.fanoutQueue);

  await channel.assertQueue(t.wakeDueQueue, { durable: true });
  await channel.assertQueue(t.wakeDeadQueue, { durable: true });
  for (const queue of t.wakeDelayQueues) await declareDelayQueue(channel, queue, t.wakeDueQueue);
}

/** Every queue name in the topology; used by tests to clean up their prefix. */
export function allQueues(t: Topology): string[] {
  return [
    t.eventsQueue,
    ...t.eventsRetryQueues,
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
}
