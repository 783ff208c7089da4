import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import { consumeTracked } from '../shared/amqp/deliveries.js';
import { settle } from '../shared/amqp/envelope.js';
import { failurePolicies } from '../shared/amqp/failure-policy.js';
import { WAKE_DELAY_RUNGS_MS, type Topology } from '../shared/amqp/topology.js';
import { asError, PermanentError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import { encodeJson, JSON_CONTENT_TYPE, type DelayedWakeMessage, type WakeMessage } from '../shared/messages.js';
import type { Redis } from '../shared/redis.js';
import { publishWake } from '../shared/wake-channel.js';

/**
 * Wake-ups held back by do-not-disturb wait in the broker, never in this process: a message
 * hops down a ladder of TTL queues (topology.wakeDelayQueues) until its due time, then the wake
 * is published to the ws-server instances holding the user (shared/wake-channel.ts). Each hop is confirmed before the previous copy is acked,
 * so a consumer that dies mid-wait loses nothing (at worst a wake is published twice, which the
 * ws-server deduplicates by id and version).
 */

/** The longest rung not beyond what is left, or the shortest one. */
function rungFor(topology: Topology, remainingMs: number): string {
  let index = 0;
  WAKE_DELAY_RUNGS_MS.forEach((ms, i) => {
    if (ms <= remainingMs) index = i;
  });
  return topology.wakeDelayQueues[index]!;
}

/** Schedules a wake for `dueAtMs`. */
export async function scheduleWake(
  channel: ChannelWrapper,
  topology: Topology,
  wake: WakeMessage,
  dueAtMs: number,
): Promise<void> {
  const body: DelayedWakeMessage = { ...wake, dueAtMs };
  await channel.sendToQueue(rungFor(topology, dueAtMs - Date.now()), encodeJson(body), {
    persistent: true,
    contentType: JSON_CONTENT_TYPE,
  });
}

function parseDelayedWake(content: Buffer): DelayedWakeMessage {
  let body: DelayedWakeMessage;
  try {
    body = JSON.parse(content.toString('utf8')) as DelayedWakeMessage;
  } catch {
    // Not the parser's message: it quotes the body, and the reason is logged.
    throw new PermanentError('delayed wake: invalid_json');
  }
  if (
    typeof body !== 'object' ||
    body === null ||
    typeof body.userId !== 'string' ||
    !Array.isArray(body.notificationIds) ||
    typeof body.dueAtMs !== 'number'
  ) {
    throw new PermanentError('delayed wake: not a {userId, notificationIds, dueAtMs} object');
  }
  return body;
}

/**
 * Consumes the ladder's exit: re-schedules what is early, publishes what is due. A failure is
 * settled by the shared envelope with the due queue's FailurePolicy: a body that is not a delayed
 * wake is dead-lettered, a failed forward (Redis or the broker) waits on the ladder's short rungs.
 * `track` receives each message's work, so the service's shutdown drain waits for it to settle
 * before the channel closes.
 */
export async function consumeDueWakes(
  channel: ChannelWrapper,
  topology: Topology,
  redis: Redis,
  keyPrefix: string,
  logger: Logger,
  track: (work: Promise<void>) => Promise<void> = (work) => work,
): Promise<void> {
  const policy = failurePolicies(topology).wakeDue;
  await consumeTracked(channel, topology.wakeDueQueue, (msg: ConsumeMessage) => track(forward(msg)), { prefetch: 50 });

  async function forward(msg: ConsumeMessage): Promise<void> {
    let body: DelayedWakeMessage | undefined;
    let result: 'forwarded' | Error;
    try {
      body = parseDelayedWake(msg.content);
      const { dueAtMs, ...wake } = body;
      if (dueAtMs > Date.now()) await scheduleWake(channel, topology, wake, dueAtMs);
      // Ids only, so the ws-server reads the buffer's current versions (the hold may have outlived older ones).
      else await publishWake(redis, keyPrefix, wake);
      result = 'forwarded';
    } catch (err) {
      result = asError(err);
    }
    const settled = await settle(channel, policy, msg, result);
    if (!settled.failed || settled.outcome === 'redelivered') return;
    const ids = body ? { userId: body.userId, notificationIds: firstIds(body.notificationIds) } : {};
    if (settled.outcome === 'requeued')
      logger.error({ ...ids, err: settled.republishError }, 'delayed wake not forwarded nor retried; requeued');
    else logger.warn({ ...ids, err: settled.reason, outcome: settled.outcome }, 'delayed wake not forwarded');
  }
}
