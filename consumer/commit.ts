import { v7 as uuidv7 } from 'uuid';
import { EVENTS_MAX_PRIORITY } from '../shared/amqp/topology.js';
import { factsOf, objectIdOf } from '../shared/event-types.js';
import { keys } from '../shared/keys.js';
import { LuaScript } from '../shared/lua.js';
import { priorityOf } from '../shared/priority.js';
import type { Redis } from '../shared/redis.js';
import { UNREAD_BUMP_LUA, UNREAD_COUNT_TTL_SECONDS } from '../shared/unread.js';
import { WAKE_ROUTE_LUA } from '../shared/wake-channel.js';
import { actionFingerprint } from './dedupe.js';
import type { ParsedEvent } from './parse-event.js';
import type { PreferenceDecision } from './preferences.js';
import { actorLimitOf, countActors, RATE_WINDOW_LUA, type ActorVerdict } from './rate-limits.js';

/**
 * The commit step: one script call per event (consumer/commit.lua), all of a batch's calls in
 * one pipeline. Everything that used to be five sequential round trips (dedupe, limits, fold,
 * seq, buffer, timeline, wake) happens inside it, so a batch costs one write and one read on the
 * Redis socket whatever its size, and every rule keeps its old meaning because the script applies
 * them in the old order, atomically. Each call touches one user's keys only (one hash slot), so on
 * a Redis Cluster the calls go to their users' nodes, one pipeline per node; there the actor limit
 * is counted in a step before (consumer/rate-limits.ts), one more round trip per batch.
 */
const COMMIT = LuaScript.fromFile(new URL('./commit.lua', import.meta.url), {
  UNREAD_BUMP: UNREAD_BUMP_LUA,
  RATE_WINDOW: RATE_WINDOW_LUA,
  WAKE_ROUTE: WAKE_ROUTE_LUA,
});

/** Actors listed on an aggregate (most recent first); actorCount holds the full number. */
export const MAX_LISTED_ACTORS = 20;
/** eventIds kept on an aggregate. */
export const MAX_EVENT_IDS = 100;

export interface CommitSettings {
  keyPrefix: string;
  eventWindowSeconds: number;
  actionWindowMs: number;
  aggregationWindowMs: number;
  bufferTtlSeconds: number;
  rateLimitActorPerMinute: number;
  rateLimitRecipientPerMinute: number;
  /** keys.wakeChannelPrefix: the wake goes to the channel of each ws-server instance holding the user. */
  wakeChannelPrefix: string;
}

export interface CommitInput {
  event: ParsedEvent;
  decision: PreferenceDecision;
  /** The actor's display name ('Someone' when the event has no actor). */
  actorName: string;
  acceptedAtMs?: number;
}

export type CommitResult =
  | { outcome: 'created' | 'updated' | 'stale'; notificationId: string; json: string }
  /** Produced before: `json` is the buffered copy, or null once it expired (persisted long ago). */
  | { outcome: 'duplicate'; notificationId: string; json: string | null }
  | { outcome: 'duplicate_action' | 'limited_actor' | 'limited_recipient' | 'suppressed' };

/** True when the type folds into an aggregation window (an actor and an object are needed). */
export function isAggregatable(event: ParsedEvent): boolean {
  return factsOf(event.type).aggregateVerb !== null && objectIdOf(event) !== null && event.actorId !== undefined;
}

/**
 * The KEYS and ARGV of one event's call, in commit.lua's header order. `actorOver` is the actor
 * limit's verdict when it was counted before the call (a cluster); undefined: the script counts it.
 */
export function commitCall(
  s: CommitSettings,
  input: CommitInput,
  nowMs = Date.now(),
  actorOver: boolean | undefined = undefined,
): { keys: string[]; args: string[] } {
  const { event, decision } = input;
  const facts = factsOf(event.type);
  const objectId = objectIdOf(event);
  const aggregate = isAggregatable(event);
  const fingerprint = facts.exempt.actionDedupe ? null : actionFingerprint(event);
  const user = event.targetId;
  const windowKey = (make: (u: string, t: string, o: string) => string) =>
    aggregate ? make(user, event.type, objectId!) : keys.seq(user);
  const id = uuidv7();
  const createdAt = new Date(nowMs).toISOString();
  const message = facts.format(event, input.actorName);
  const priority = priorityOf(event.type);
  const actors = event.actorId !== undefined ? [event.actorId] : [];
  // The JSON is written by hand up to its last field so the script only appends (seq, and an
  // aggregate's window fields) without decoding it: cjson would turn an empty `actors` into {}.
  const common = `{"userId":${JSON.stringify(user)},"type":${JSON.stringify(event.type)},"priority":${priority},"objectId":${JSON.stringify(objectId)}`;
  const head = aggregate
    ? common
    : `${common},"id":${JSON.stringify(id)},"createdAt":${JSON.stringify(createdAt)},"actors":${JSON.stringify(actors)},"actorCount":${actors.length},"message":${JSON.stringify(message)},"version":1,"eventIds":${JSON.stringify([event.eventId])}`;
  // Rate limits (consumer/rate-limits.ts): counted here unless counted before the call.
  const limitActor = actorOver === undefined ? actorLimitOf(event, s.rateLimitActorPerMinute) : 0;
  const limitRecipient = facts.exempt.rateLimits ? 0 : s.rateLimitRecipientPerMinute;
  const eventSeen = keys.eventSeen(user, event.eventId);
  return {
    keys: [
      eventSeen,
      fingerprint === null ? eventSeen : keys.actionSeen(user, fingerprint),
      // The actor's key is another slot: on a cluster the user's own KEYS[1] stands in, unused.
      actorOver === undefined ? keys.rateLimitActor(event.actorId ?? '') : eventSeen,
      keys.rateLimitRecipient(user),
      windowKey(keys.aggregate),
      windowKey(keys.aggregateActors),
      windowKey(keys.aggregateEvents),
      windowKey(keys.aggregateNames),
      keys.seq(user),
      keys.inbox(user),
      keys.unreadCount(user),
      keys.unreadVersion(user),
      keys.timeline(user, event.eventId),
      keys.notification(user, id),
      keys.acked(user, id),
      keys.unpersisted(user, id),
      keys.timeline(user, id),
      keys.wsRoute(user),
    ],
    args: [
      s.keyPrefix,
      event.eventId,
      user,
      decision.action,
      fingerprint === null ? '0' : '1',
      String(s.actionWindowMs),
      String(s.eventWindowSeconds),
      String(limitActor),
      String(limitRecipient),
      aggregate ? '1' : '0',
      String(s.aggregationWindowMs),
      id,
      createdAt,
      event.actorId ?? '',
      input.actorName,
      head,
      message,
      facts.aggregateVerb ?? '',
      String(MAX_LISTED_ACTORS),
      String(MAX_EVENT_IDS),
      String(s.bufferTtlSeconds),
      String(UNREAD_COUNT_TTL_SECONDS),
      String(priority),
      String(EVENTS_MAX_PRIORITY),
      String(nowMs),
      input.acceptedAtMs === undefined ? '' : String(input.acceptedAtMs),
      s.wakeChannelPrefix,
      actorOver === true ? '1' : '',
    ],
  };
}

function toResult(reply: unknown): CommitResult | Error {
  if (reply instanceof Error) return reply;
  const [outcome, notificationId, json] = reply as [string, string, string | null];
  switch (outcome) {
    case 'created':
    case 'updated':
    case 'stale':
      return { outcome, notificationId, json: json! };
    case 'duplicate':
      return { outcome, notificationId, json: json ?? null };
    case 'duplicate_action':
    case 'limited_actor':
    case 'limited_recipient':
    case 'suppressed':
      return { outcome };
    default:
      return new Error(`commit script: unknown outcome ${String(outcome)}`);
  }
}

/**
 * Commits every input in one pipeline; each gets its result or the error of its own call. On a
 * cluster the actors' counts come first (one script call per distinct actor, one round trip), and
 * an input whose count failed gets that error without being committed.
 */
export async function commitEvents(
  redis: Redis,
  s: CommitSettings,
  inputs: CommitInput[],
): Promise<Array<CommitResult | Error>> {
  const nowMs = Date.now();
  const verdicts: ActorVerdict[] = redis.isCluster
    ? await countActors(
        redis,
        inputs.map((i) => i.event),
        s.rateLimitActorPerMinute,
      )
    : inputs.map(() => undefined);
  // On a cluster an uncounted event (exempt) is passed as "counted, within": nothing to count.
  const actorOver = (i: number) => (redis.isCluster ? verdicts[i] === true : undefined);
  const committing = inputs.flatMap((input, i) => (verdicts[i] instanceof Error ? [] : [i]));
  const replies = await COMMIT.runMany(
    redis,
    committing.map((i) => commitCall(s, inputs[i]!, nowMs, actorOver(i))),
  );
  const results: Array<CommitResult | Error> = verdicts.map((v) =>
    v instanceof Error ? v : new Error('commit: no reply'),
  );
  committing.forEach((i, k) => (results[i] = toResult(replies[k])));
  return results;
}
