--[[
  replay-state.lua: everything AUTH (and the resync after a wake gap) reads from Redis, in one
  call (ws-server/replay-state.ts): the user's pending notifications in replay order (after the
  client's lastSeq when it resumes), how many are pending in all, the replay-clean mark, the
  preferences copy, the unread count and version, and the user's latest seq (the client's resume
  point after a whole replay, client/resume.ts). Inbox entries whose notification expired are
  dropped from the inbox here: jobs has persisted them as undelivered by then.

  First of all it registers this ws-server instance in the user's route (shared/wake-channel.ts),
  in the same atomic call as the read: a notification committed before it is in this replay, one
  committed after it finds the registration and wakes this instance. No gap between the two.

  The work is bounded by the limit, resuming or not: at most `limit` notifications are read (one
  GET each), plus, when resuming, a few O(log n) range reads per priority band. A resume used to
  read the whole inbox and filter it in the caller: 20,000 pending made one AUTH block Redis
  for ~100 ms and return ~4 MB.

  Resuming: the inbox score is (max_priority - priority) * 1e12 + seq (consumer/commit.lua), so
  band k = max_priority - priority holds the scores [k * 1e12, (k + 1) * 1e12), seq ascending,
  and the entries after last_seq are the scores (k * 1e12 + last_seq, (k + 1) * 1e12). The bands
  are read in order (highest priority first) until the limit is reached: the replay order,
  priority then seq, as without lastSeq. ZCOUNT per band counts those after last_seq in all.

  A last_seq above the user's seq cannot have come from this counter: Redis lost the user's keys
  (a restart without persistence, a failover to a replica that was behind) and the counter
  started again. Every seq the user has now would sit at or below it, so the resume would hide
  every pending notification. It is ignored (a whole replay, as without it) and reported, so
  the client drops its resume point (docs/protocol.md "AUTH_OK", `resumeReset`).

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
    2 limit        pending notifications returned at most (1 or more)
    3 instance_id  this ws-server instance
    4 route_ttl_ms how long the registration lives without a refresh
    5 last_seq     the client's resume point; '' when it sent none
    6 max_priority EVENTS_MAX_PRIORITY (shared/priority.ts): the bands are 0 .. max_priority

  Returns { total, clean (0|1), preferences json or false, unread count or false,
            unread version or false, latest seq or false, reset (0|1), pending in all,
            earliest json or false, notification json... } in replay order, where
    total      pending after last_seq (all pending without it, or when it was ignored)
    reset      1 when last_seq was above the latest seq and ignored
    pending in all  every pending entry, after last_seq or not
    earliest   when resuming, the pending notification with the lowest seq: the one written
               first, so the first to expire (the replay-clean mark's bound, shared/replay-clean.ts);
               false without last_seq, or when its copy expired
]]

--#include WAKE_ROUTE

registerRoute(KEYS[7], ARGV[3], ARGV[4])
local limit = tonumber(ARGV[2])
local seq = redis.call('GET', KEYS[8])
local lastSeq = tonumber(ARGV[5])
local reset = 0
if lastSeq and lastSeq > (tonumber(seq) or 0) then
  lastSeq = nil
  reset = 1
end

-- Scores are integers below 2^53: written out whole, never in exponent form.
local function score(n) return string.format('%.0f', n) end

local ids, total, earliestId, earliestSeq
if lastSeq == nil then
  ids = redis.call('ZRANGE', KEYS[1], 0, limit - 1)
  total = redis.call('ZCARD', KEYS[1])
else
  ids, total = {}, 0
  local band = 1e12
  for k = 0, tonumber(ARGV[6]) do
    local low, below = k * band, '(' .. score((k + 1) * band)
    local after = '(' .. score(low + lastSeq)
    local n = redis.call('ZCOUNT', KEYS[1], after, below)
    total = total + n
    if n > 0 and #ids < limit then
      local more = redis.call('ZRANGEBYSCORE', KEYS[1], after, below, 'LIMIT', 0, limit - #ids)
      for _, id in ipairs(more) do ids[#ids + 1] = id end
    end
    -- The band's first entry is its earliest written (seq and TTL are set in one commit); the
    -- earliest of all bands is the first pending copy to expire, whatever was left unread.
    local first = redis.call('ZRANGEBYSCORE', KEYS[1], score(low), below, 'WITHSCORES', 'LIMIT', 0, 1)
    if first[1] then
      local firstSeq = tonumber(first[2]) - low
      if earliestSeq == nil or firstSeq < earliestSeq then earliestSeq, earliestId = firstSeq, first[1] end
    end
  end
end

local out = { 0, redis.call('EXISTS', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4]),
  redis.call('GET', KEYS[5]), seq, reset, 0, false }
local expired, earliestRead = {}, false
for _, id in ipairs(ids) do
  local json = redis.call('GET', KEYS[6] .. id)
  if id == earliestId then
    earliestRead = true
    out[9] = json
  end
  if json then
    out[#out + 1] = json
  else
    expired[#expired + 1] = id
  end
end
total = total - #expired
if earliestId and not earliestRead then
  -- At or below last_seq, or past the limit: read for its createdAt only.
  out[9] = redis.call('GET', KEYS[6] .. earliestId)
  if not out[9] then
    expired[#expired + 1] = earliestId
    if earliestSeq > lastSeq then total = total - 1 end
  end
end
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
out[1] = total
out[8] = redis.call('ZCARD', KEYS[1])
return out
