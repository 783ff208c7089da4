import { keys } from './keys.js';
import { LuaScript } from './lua.js';
import type { Redis } from './redis.js';

/**
 * What the pipeline records about one event or notification, for
 * `GET /notifications/:id/timeline`. Each stage records its own moment; the first time a stage
 * happens is kept (RECORD_STAGES_LUA below), so a redelivery or a retried job does not rewrite history.
 * Stages of a notification are keyed by notification id, its 'accepted' being the earliest of
 * its events' (consumer/commit.lua). An event that becomes no notification (suppressed, or a
 * self-notification) keeps its stages under its eventId. Both under the (recipient) user's hash
 * tag (shared/keys.ts).
 */
export const TIMELINE_STAGES = ['accepted', 'buffered', 'sent', 'acked', 'persisted', 'read'] as const;
/** Stages only an event can reach: its recipient's preferences suppressed it (consumer/preferences.ts). */
export const EVENT_ONLY_STAGES = ['suppressed'] as const;
export type TimelineStage = (typeof TIMELINE_STAGES)[number] | (typeof EVENT_ONLY_STAGES)[number];

/**
 * Lua fragment (`--#include RECORD_STAGES`), the rule for every stage after the commit's:
 * `recordStages(key, ttlSeconds, stages)`, `stages` = { name, atMs, name, atMs, ... } (an atMs of
 * '' is skipped). The stages not recorded yet go in one HSET (the first time of each is kept); the
 * expiry is the one the commit gave the timeline, and only a timeline made here (the commit's
 * lapsed, or there was none) gets `ttlSeconds`. Every write a script makes is replicated and
 * appended to the AOF, a rewritten expiry as one more PEXPIREAT per stage. The commit itself
 * (consumer/commit.lua) writes its stages with the buffer's expiry.
 */
export const RECORD_STAGES_LUA = `
local function recordStages(key, ttl, stages)
  local names = {}
  for i = 1, #stages, 2 do names[#names + 1] = stages[i] end
  local have = redis.call('HMGET', key, unpack(names))
  local fields = {}
  for i = 1, #names do
    local at = stages[2 * i]
    if not have[i] and at ~= '' then
      fields[#fields + 1] = names[i]
      fields[#fields + 1] = at
    end
  end
  if #fields == 0 then return end
  redis.call('HSET', key, unpack(fields))
  if redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
end
`;

const RECORD_STAGE = new LuaScript(`
${RECORD_STAGES_LUA}
recordStages(KEYS[1], ARGV[1], { ARGV[2], ARGV[3] })
return 1
`);

/** Kept as long as the buffer keeps notifications; MongoDB's timestamps outlive it. */
export async function recordStage(
  redis: Redis,
  userId: string,
  id: string,
  stage: TimelineStage,
  ttlSeconds: number,
  atMs = Date.now(),
): Promise<void> {
  await RECORD_STAGE.run(redis, [keys.timeline(userId, id)], [String(ttlSeconds), stage, String(atMs)]);
}

export async function readTimeline(
  redis: Redis,
  userId: string,
  id: string,
): Promise<Partial<Record<TimelineStage, number>>> {
  const raw = await redis.hgetall(keys.timeline(userId, id));
  return Object.fromEntries(
    Object.entries(raw)
      .filter(([stage]) => ([...TIMELINE_STAGES, ...EVENT_ONLY_STAGES] as readonly string[]).includes(stage))
      .map(([s, v]) => [s, Number(v)]),
  );
}
