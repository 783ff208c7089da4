--[[
  replay-state.lua: everything AUTH (and the resync after a wake gap) reads from Redis, in one
  call (ws-server/replay-state.ts): the user's pending notifications in replay order, how many are
  pending in all, the replay-clean mark, the preferences copy and the unread count and version.
  Inbox entries whose notification expired are dropped from the inbox here: jobs has persisted
  them as undelivered by then.

  First of all it registers this ws-server instance in the user's route (shared/wake-channel.ts),
  in the same atomic call as the read: a notification committed before it is in this replay, one
  committed after it finds the registration and wakes this instance. No gap between the two.

  KEYS
    1 inbox          inbox:<user>
    2 replayClean    replay-clean:<user>
    3 preferences    prefs:<user>
    4 unreadCount    unread:<user>
    5 unreadVersion  unread:v:<user>
    6 route          wsroute:<user>  (zset instanceId -> expiry)
  Each notification's key (notif:<id>) is named from ARGV.key_prefix: the ids come from the inbox.

  ARGV
    1 key_prefix   REDIS_KEY_PREFIX (ioredis prefixes KEYS only)
    2 limit        pending notifications returned at most; '0' = all (a lastSeq resume filters them)
    3 instance_id  this ws-server instance
    4 route_ttl_ms how long the registration lives without a refresh

  Returns { total, clean (0|1), preferences json or false, unread count or false,
            unread version or false, notification json... } in replay order.
]]

--#include WAKE_ROUTE

registerRoute(KEYS[6], ARGV[3], ARGV[4])
local prefix, limit = ARGV[1], tonumber(ARGV[2])
local ids = redis.call('ZRANGE', KEYS[1], 0, limit > 0 and limit - 1 or -1)
local total = redis.call('ZCARD', KEYS[1])
local out = { 0, redis.call('EXISTS', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4]), redis.call('GET', KEYS[5]) }
local expired = {}
for _, id in ipairs(ids) do
  local json = redis.call('GET', prefix .. 'notif:' .. id)
  if json then
    out[#out + 1] = json
  else
    expired[#expired + 1] = id
  end
end
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
out[1] = total - #expired
return out
