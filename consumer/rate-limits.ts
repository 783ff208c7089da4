import { factsOf } from '../shared/event-types.js';
import { keys } from '../shared/keys.js';
import { LuaScript } from '../shared/lua.js';
import type { Redis } from '../shared/redis.js';
import type { ParsedEvent } from './parse-event.js';

/**
 * The consumer's two rate limits: RATE_LIMIT_ACTOR_PER_MINUTE per actor and
 * RATE_LIMIT_RECIPIENT_PER_MINUTE per recipient (docs/pipeline.md "What rate limiting drops").
 * Both are applied by the commit script (consumer/commit.lua), after the dedupe rules, so a
 * redelivery of a committed event (one that made a notification, or was suppressed) is a
 * duplicate, never "limited". A limited event leaves no mark (a flood of them must not cost a key
 * each), so its redelivery after a crash is counted again; it gives back the action it claimed.
 *
 * On a Redis Cluster the actor's counter cannot be in the commit: commit.lua touches only the
 * recipient's slot (shared/keys.ts), and an actor's events go to many recipients. There the
 * actor limit is counted first, one script call per distinct actor of the batch, all in one round
 * trip (`countActors`), and each event's verdict goes into its commit, which applies it at the
 * same point of its order. The difference: on a cluster an event that then turns out to be a
 * duplicate has still used one of its actor's minute (on a single server it has not).
 */

/**
 * Lua fragment both scripts include: fixed one-minute windows, the same as rate-limiter-flexible's
 * RateLimiterRedis did. The window starts with its first event (INCRBY creates the key, EXPIRE
 * fixes its end); defines `countInWindow(key, n)`, returning the count after adding n.
 */
export const RATE_WINDOW_LUA = `
local function countInWindow(key, n)
  local used = redis.call('INCRBY', key, n)
  if used == n then redis.call('EXPIRE', key, 60) end
  return used
end
`;

const ACTOR_LIMIT = LuaScript.fromFile(new URL('./actor-limit.lua', import.meta.url), { RATE_WINDOW: RATE_WINDOW_LUA });

/**
 * The actor limit of an event, 0 when exempt: transactional events are never limited, and a
 * fanned-out POST's recipients are one action of the actor, so only the recipient limit counts them.
 */
export function actorLimitOf(event: ParsedEvent, perMinute: number): number {
  const facts = factsOf(event.type);
  return facts.exempt.rateLimits || facts.fanout || event.actorId === undefined ? 0 : perMinute;
}

/** Per event: over its actor's limit (true), within it (false), not counted (undefined) or the count's error. */
export type ActorVerdict = boolean | undefined | Error;

/**
 * Counts the batch's events against their actors' limits, in batch order: one script call per
 * distinct actor, all sent together (one pipeline per cluster node).
 */
export async function countActors(redis: Redis, events: ParsedEvent[], perMinute: number): Promise<ActorVerdict[]> {
  const byActor = new Map<string, number[]>();
  events.forEach((event, i) => {
    if (actorLimitOf(event, perMinute) === 0) return;
    const actor = event.actorId!;
    byActor.set(actor, [...(byActor.get(actor) ?? []), i]);
  });
  const actors = [...byActor];
  const replies = await ACTOR_LIMIT.runMany(
    redis,
    actors.map(([actor, at]) => ({ keys: [keys.rateLimitActor(actor)], args: [at.length] })),
  );
  const verdicts: ActorVerdict[] = new Array(events.length).fill(undefined);
  actors.forEach(([, at], a) => {
    const reply = replies[a];
    at.forEach((i, k) => {
      verdicts[i] = reply instanceof Error ? reply : Number(reply) - at.length + k + 1 > perMinute;
    });
  });
  return verdicts;
}
