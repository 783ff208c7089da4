--[[
  replay-state.lua: everything AUTH (and the resync after a wake gap) reads from Redis, in one
  call (ws-server/replay-state.ts): the user's pending notifications in replay order, how many are
  pending in all, the replay-clean mark, the preferences copy, the unread count and version, and
  the user's latest seq (the client's resume point after a whole replay, client/resume.ts).
  Inbox entries whose notification expired are dropped from the inbox here: jobs has persisted
  them as undelivered by then.

  First of all it registers this ws-server instance in the user's route (shared/wake-channel.ts),
  in the same atomic call as the read: a notification committed before it is in this replay, one
  committed after it finds the registration and wakes this instance. No gap between the two.

  KEYS: all under the user's hash tag {u:<user>} (shared/keys.ts): one slot on a Redis Cluster.
    1 inbox          inbox:{u:<user>}
    2 replayClean    replay-clean:{u:<user>}
    3 preferences    prefs:{u:<user>}
    4 unreadCount    unread:{u:<user>}
    5 unreadVersion  unread:v:{u:<user>}
    6 notifications  notif:{u:<user>}:  (the user's notification key with an empty id; it never
                                        exists: the key of an inbox id is this with the id appended,
                                        as the ids are only known once the inbox is read)
    7 route          wsroute:{u:<user>}  (zset instanceId -> expiry)
    8 seq            seq:{u:<user>}      (the counter the commit INCRs: the latest seq taken)

  ARGV
    1 key_prefix   REDIS_KEY_PREFIX (no longer read: every key comes from KEYS)
    2 limit        pending notifications returned at most; '0' = all (a lastSeq resume filters them)
    3 instance_id  this ws-server instance
    4 route_ttl_ms how long the registration lives without a refresh

  Returns { total, clean (0|1), preferences json or false, unread count or false,
            unread version or false, latest seq or false, notification json... } in replay order.
]]

--#include WAKE_ROUTE

registerRoute(KEYS[7], ARGV[3], ARGV[4])
local limit = tonumber(ARGV[2])
local ids = redis.call('ZRANGE', KEYS[1], 0, limit > 0 and limit - 1 or -1)
local total = redis.call('ZCARD', KEYS[1])
local out = { 0, redis.call('EXISTS', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4]), redis.call('GET', KEYS[5]), redis.call('GET', KEYS[8]) }
local expired = {}
for _, id in ipairs(ids) do
  local json = redis.call('GET', KEYS[6] .. id)
  if json then
    out[#out + 1] = json
  else
    expired[#expired + 1] = id
  end
end
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
out[1] = total - #expired
return out
