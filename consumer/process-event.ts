import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Topology } from '../shared/amqp/topology.js';
import { factsOf } from '../shared/event-types.js';
import type { Logger } from '../shared/logger.js';
import type { PreferenceStore } from '../shared/preferences.js';
import type { Redis } from '../shared/redis.js';
import { recordStage } from '../shared/timeline.js';
import { publishWake } from '../shared/wake-channel.js';
import { commitEvents, type CommitInput, type CommitSettings } from './commit.js';
import { scheduleWake } from './delayed-wake.js';
import type { PersistHandOff } from './hand-off.js';
import type { ConsumerMetrics, Outcome } from './metrics.js';
import type { ParsedEvent } from './parse-event.js';
import { decideMany, type PreferenceDecision } from './preferences.js';
import type { UserNames } from './user-names.js';

export interface ProcessDeps {
  redis: Redis;
  channel: ChannelWrapper;
  topology: Topology;
  names: UserNames;
  metrics: ConsumerMetrics;
  logger: Logger;
  preferences: Pick<PreferenceStore, 'readMany'>;
  commit: CommitSettings;
  handOff: PersistHandOff;
}

export interface EventToProcess {
  event: ParsedEvent;
  acceptedAtMs?: number;
  /** The producer's HTTP request id, named in the log lines about the event. */
  requestId?: string;
}

/**
 * The per-recipient path for every event that arrived together, in four named steps:
 *
 * 1. decide: the self rule, and the recipients' preferences and the actors' names, each read once
 *    for the whole batch (one MGET each, the names mostly from this process's cache);
 * 2. build + 3. commit: one script call per event, all in one pipeline (consumer/commit.ts):
 *    dedupe, limits, aggregation, seq, buffer, unread, marks, timeline and the wake, atomically;
 * 4. hand off: what was committed (or found committed by a redelivery) joins the next persist
 *    batch; a do-not-disturb hold schedules its wake in the broker.
 *
 * Each event gets its outcome, or the error that must keep its message unacked (the caller
 * retries or dead-letters it). Resolving means the outcome's work is confirmed.
 */
export async function processEvents(
  deps: ProcessDeps,
  items: EventToProcess[],
  /**
   * Called once the commit step is done (the next batch may commit while this one hands off), with
   * each committed event's result or error (consumer/redis-gate.ts reads them before the next batch).
   */
  onCommitted?: (committed: readonly unknown[]) => void,
): Promise<Array<Outcome | Error>> {
  const results: Array<Outcome | Error> = new Array(items.length);

  // 1. decide
  const live: number[] = [];
  const selfStages: Array<Promise<unknown>> = [];
  items.forEach(({ event, acceptedAtMs }, i) => {
    if (!factsOf(event.type).exempt.selfNotification && event.actorId === event.targetId) {
      results[i] = 'self';
      if (acceptedAtMs !== undefined)
        selfStages.push(
          recordStage(
            deps.redis,
            event.targetId,
            event.eventId,
            'accepted',
            deps.commit.bufferTtlSeconds,
            acceptedAtMs,
          ),
        );
    } else {
      live.push(i);
    }
  });
  const [decisions, nameOf] = await Promise.all([
    decideMany(
      deps.preferences,
      live.map((i) => ({ userId: items[i]!.event.targetId, type: items[i]!.event.type })),
    ),
    deps.names.resolve(live.flatMap((i) => (items[i]!.event.actorId === undefined ? [] : [items[i]!.event.actorId!]))),
    Promise.all(selfStages),
  ]);

  // 2. build, 3. commit
  const inputs: CommitInput[] = live.map((i, k) => {
    const { event, acceptedAtMs } = items[i]!;
    return {
      event,
      decision: decisions[k]!,
      actorName: event.actorId === undefined ? 'Someone' : nameOf(event.actorId),
      ...(acceptedAtMs === undefined ? {} : { acceptedAtMs }),
    };
  });
  const committed = await commitEvents(deps.redis, deps.commit, inputs);
  onCommitted?.(committed);

  // 4. hand off
  const waitsOn: Array<Promise<void> | undefined> = new Array(items.length);
  // Checked once per batch: at the default level the per-event line costs nothing, not even its object.
  const traceBuffered = deps.logger.isLevelEnabled('debug');
  live.forEach((i, k) => {
    const result = committed[k]!;
    const { event, acceptedAtMs } = items[i]!;
    if (result instanceof Error) {
      results[i] = result;
      return;
    }
    results[i] = outcomeOf(deps, items[i]!, result.outcome, decisions[k]!);
    // The bridge from eventId to notificationId when following one event (docs/operations.md).
    if (traceBuffered && 'notificationId' in result)
      deps.logger.debug(
        {
          eventId: event.eventId,
          notificationId: result.notificationId,
          userId: event.targetId,
          requestId: items[i]!.requestId,
          outcome: result.outcome,
        },
        'notification buffered',
      );
    if (
      result.outcome === 'created' ||
      result.outcome === 'updated' ||
      result.outcome === 'stale' ||
      (result.outcome === 'duplicate' && result.json !== null)
    ) {
      const jsons = [result.json!];
      const wake = { userId: event.targetId, notificationIds: [result.notificationId] };
      const decision = decisions[k]!;
      const held = decision.action === 'hold';
      const holding = held && decision.untilMs > Date.now();
      // The commit script publishes no wake for a held notification, nor for a duplicate, so each
      // of those is woken here; an ids-only wake pushes only what is still pending
      // (ws-server/push.ts), so a repeat costs a lookup, never a second copy after an ACK.
      // - A hold whose window still runs schedules its wake for the window's end.
      // - A hold whose window ended since the decision (the commit waited on Redis, the
      //   preferences read on MongoDB) is woken at once: scheduling nothing would leave it in
      //   the buffer until the user's next AUTH.
      // - A duplicate repeats the wake as it repeats the hand-off: the first delivery may have
      //   committed and then failed to schedule its held wake (or died first).
      const woken = holding
        ? scheduleWake(deps.channel, deps.topology, wake, decision.untilMs)
        : held || result.outcome === 'duplicate'
          ? publishWake(deps.redis, deps.commit.keyPrefix, wake)
          : undefined;
      const done = Promise.all([deps.handOff.add(jsons), woken]).then(() => undefined);
      waitsOn[i] = done;
      if (result.outcome !== 'duplicate' && acceptedAtMs !== undefined) {
        deps.metrics.bufferSeconds.observe(Math.max(0, Date.now() - acceptedAtMs) / 1000);
      }
    }
  });
  const settled = await Promise.allSettled(waitsOn.map((w) => w ?? Promise.resolve()));
  settled.forEach((s, i) => {
    if (s.status === 'rejected' && !(results[i] instanceof Error)) {
      results[i] = s.reason instanceof Error ? s.reason : new Error(String(s.reason));
    }
  });
  return results;
}

function outcomeOf(
  deps: ProcessDeps,
  { event, requestId }: EventToProcess,
  outcome: string,
  decision: PreferenceDecision,
): Outcome {
  switch (outcome) {
    case 'limited_actor':
    case 'limited_recipient': {
      const scope = outcome === 'limited_actor' ? 'actor' : 'recipient';
      deps.metrics.limited.inc({ scope });
      deps.logger.info({ eventId: event.eventId, requestId, scope, type: event.type }, 'event rate limited');
      return 'limited';
    }
    case 'suppressed':
      deps.metrics.suppressed.inc({ reason: decision.action === 'suppress' ? decision.reason : 'muted' });
      return 'suppressed';
    case 'duplicate':
    case 'duplicate_action':
      return 'duplicate';
    default:
      return 'buffered';
  }
}
