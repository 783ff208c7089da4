import type { Category } from '../priority.js';
import { WAKE_DELAY_RUNGS_MS, type Topology } from './topology.js';

/** Where a message that failed in one work queue goes next (shared/amqp/envelope.ts applies it). */
export interface FailurePolicy {
  /** The work queue the message was consumed from; recorded on every copy. */
  sourceQueue: string;
  /**
   * TTL queues that dead-letter back into sourceQueue, shortest first: after its n-th failure a
   * message waits in retryQueues[n - 1].
   */
  retryQueues: readonly string[];
  /** Where a message goes that can never be handled (a PermanentError), with the reason. */
  deadQueue: string;
  /**
   * Once every retry queue was used: 'dead-letter' gives up on a message that keeps failing on
   * its own (a script error its content causes: poison), but not on an outage of Redis, RabbitMQ
   * or MongoDB (shared/dependency-outage.ts), which waits on the last rung for as long as it
   * lasts; 'keep-retrying' waits on the last rung whatever the failure (a write that fails only
   * while a store is down must never be dropped).
   */
  whenExhausted: 'dead-letter' | 'keep-retrying';
}

export type PolicyQueue = 'fanout' | 'persist' | 'acks' | 'wakeDue';

/**
 * A delayed wake is retried on the wake ladder's own rungs (they dead-letter into the due queue,
 * where the now-past due time forwards it), up to this wait: a wake only speeds delivery up, so a
 * longer pause than this would leave a connected user waiting for nothing.
 */
const WAKE_RETRY_MAX_MS = 15_000;

/**
 * The failure policy of every consumed queue: one table, so the rules differ only here. Events
 * have one per category: each category's retries come back to its own events queue (the same
 * queue and ladder for all three on classic, shared/amqp/topology.ts).
 */
export function failurePolicies(
  t: Topology,
): Record<PolicyQueue, FailurePolicy> & { events: Record<Category, FailurePolicy> } {
  const events = (c: Category): FailurePolicy => ({
    sourceQueue: t.eventsQueues[c],
    retryQueues: t.eventsRetryQueues[c],
    deadQueue: t.eventsDeadQueue,
    whenExhausted: 'dead-letter',
  });
  return {
    events: { transactional: events('transactional'), social: events('social'), promotional: events('promotional') },
    fanout: {
      sourceQueue: t.fanoutQueue,
      retryQueues: t.fanoutRetryQueues,
      deadQueue: t.fanoutDeadQueue,
      whenExhausted: 'dead-letter',
    },
    persist: {
      sourceQueue: t.persistQueue,
      retryQueues: t.persistRetryQueues,
      deadQueue: t.persistDeadQueue,
      whenExhausted: 'keep-retrying',
    },
    acks: {
      sourceQueue: t.acksQueue,
      retryQueues: t.acksRetryQueues,
      deadQueue: t.persistDeadQueue,
      whenExhausted: 'keep-retrying',
    },
    wakeDue: {
      sourceQueue: t.wakeDueQueue,
      retryQueues: t.wakeDelayQueues.filter((_, i) => WAKE_DELAY_RUNGS_MS[i]! <= WAKE_RETRY_MAX_MS),
      deadQueue: t.wakeDeadQueue,
      whenExhausted: 'keep-retrying',
    },
  };
}
