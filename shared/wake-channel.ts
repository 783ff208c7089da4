import type { Redis } from './redis.js';
import { keys } from './keys.js';
import { LuaScript } from './lua.js';
import type { WakeExchangeMessage } from './messages.js';

/**
 * The wake routing rule, in one place. Each ws-server instance has an id of its own and listens
 * on its own channel (keys.wakeChannel). While it holds a socket of a user it keeps itself in the
 * user's route (keys.wsRoute: instanceId → expiry), registered by the AUTH read, refreshed in
 * rounds, removed when the user's last socket there closes (ws-server/route.ts). A publisher
 * reads the route in the same Redis call that publishes and PUBLISHes once per live instance, so
 * N instances share the wake work instead of each doing all of it; a user with no live instance
 * gets no publish at all (the buffer is the truth: the AUTH replay delivers).
 *
 * Expiries are read and written on the Redis server's clock (TIME inside the scripts), so the
 * clocks of the ws-server and publisher hosts never meet. A registration outlives a dead
 * instance by at most its TTL; wakes sent to it meanwhile reach nobody and cost nothing else.
 *
 * Why no gap (docs/protocol.md "Routing across instances"): AUTH registers and reads the pending
 * set in one script (ws-server/replay-state.lua), and the commit writes the pending set and reads
 * the route in one script (consumer/commit.lua). Redis runs scripts one at a time, so a
 * notification committed before the AUTH read is in its replay, and one committed after it
 * finds the registration and is woken on the instance's channel.
 */

/**
 * Lua fragment (`--#include WAKE_ROUTE`): routeNowMs(), routeWake(routeKey, channelPrefix, body)
 * publishes to each live instance and returns how many subscribers heard it, registerRoute(routeKey, instanceId, ttlMs) → 1 if the instance's
 * registration was live before this call, else 0 (it had lapsed or never existed).
 */
export const WAKE_ROUTE_LUA = `
local function routeNowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function routeWake(routeKey, channelPrefix, body)
  local live = redis.call('ZRANGEBYSCORE', routeKey, routeNowMs(), '+inf')
  local heard = 0
  for i = 1, #live do heard = heard + redis.call('PUBLISH', channelPrefix .. live[i], body) end
  return heard
end

local function registerRoute(routeKey, instanceId, ttlMs)
  ttlMs = tonumber(ttlMs)
  local now = routeNowMs()
  local before = redis.call('ZSCORE', routeKey, instanceId)
  redis.call('ZADD', routeKey, now + ttlMs, instanceId)
  -- Instances that died without removing themselves.
  redis.call('ZREMRANGEBYSCORE', routeKey, '-inf', '(' .. now)
  -- The key outlives every live member: each write pushes its end to now + ttl at least.
  if redis.call('PTTL', routeKey) < ttlMs then redis.call('PEXPIRE', routeKey, ttlMs) end
  if before and tonumber(before) >= now then return 1 end
  return 0
end
`;

const PUBLISH = LuaScript.fromFile(new URL('./wake-publish.lua', import.meta.url), { WAKE_ROUTE: WAKE_ROUTE_LUA });

/**
 * Publishes one wake to every ws-server instance that holds the user (wake-publish.lua: one call,
 * one round trip; the route is under the user's tag, so it runs on a Redis Cluster too). `keyPrefix` is REDIS_KEY_PREFIX: ioredis does not prefix channels, so the
 * caller names the tenant. Resolves with how many subscribers heard it (0 when no instance holds
 * the user, or the ones listed are gone); pub/sub is at most once, and a wake nobody heard costs only latency (the buffer is the truth).
 */
export async function publishWake(redis: Redis, keyPrefix: string, message: WakeExchangeMessage): Promise<number> {
  return (await PUBLISH.run(
    redis,
    [keys.wsRoute(message.userId)],
    [keys.wakeChannelPrefix(keyPrefix), JSON.stringify(message)],
  )) as number;
}
