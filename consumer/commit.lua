--[[
  commit.lua: all of one event's Redis work in one call (consumer/commit.ts). In order:
  eventId dedupe, action dedupe, both rate limits, the preference decision (made by the caller),
  the aggregation fold, seq, the buffer write with its TTL, the pending (inbox) entry, the unread
  count, the unpersisted mark, the dedupe marks, the timeline stages, and the wake: PUBLISH of the
  committed version with the unread count after it, atomically with the commit, on the channel of
  each ws-server instance the user's route lists as live (shared/wake-channel.ts); none, no PUBLISH.

  KEYS: every one carries the recipient's hash tag {u:<user>} (shared/keys.ts), so the call is
  one slot on a Redis Cluster; the one exception is the actor's limit, see 3.
    1 eventSeen      dedupe:event:{u:<user>}:<eventId>  (the id of the notification it produced; '-' for a suppressed event)
    2 actionSeen     dedupe:action:{u:<user>}:<fp>      (or any key of the user when ARGV.action_dedupe = '0')
    3 actorLimit     rl:actor:<actorId>                 (the actor's own slot: passed on a single server
                                                        only; on a cluster KEYS[1] stands in, unused, and
                                                        ARGV.actor_over carries the count made before,
                                                        consumer/rate-limits.ts)
    4 recipientLimit rl:recipient:{u:<user>}
    5 window         agg:{u:<user>}:<type>:<object>     (window hash; unused unless ARGV.aggregate = '1')
    6 windowActors   aggactors:...                      (zset, score = arrival order)
    7 windowEvents   aggevents:...                      (list of folded eventIds)
    8 windowNames    aggnames:...                       (hash actorId -> display name)
    9 seq            seq:{u:<user>}
   10 inbox          inbox:{u:<user>}
   11 unreadCount    unread:{u:<user>}
   12 unreadVersion  unread:v:{u:<user>}
   13 eventTimeline  timeline:{u:<user>}:<eventId>      (written only for a suppressed event: one that
                                                        becomes a notification has its stages on 17)
   14 notification   notif:{u:<user>}:<candidate_id>
   15 acked          acked:{u:<user>}:<candidate_id>
   16 unpersisted    unpersisted:{u:<user>}:<candidate_id>
   17 timeline       timeline:{u:<user>}:<candidate_id>
   18 route          wsroute:{u:<user>}                 (zset instanceId -> expiry; read only)
  14-17 name the candidate id's keys. When the notification turns out to have another id (the id
  an open aggregation window holds, or the one a duplicate produced: only known once read here),
  its keys are 14-17 with the candidate id replaced: same names, same tag, so the same slot.

  ARGV
    1 key_prefix        REDIS_KEY_PREFIX (no longer read: every key comes from KEYS)
    2 event_id
    3 user_id
    4 decision          'deliver' | 'hold' | 'suppress'
    5 action_dedupe     '1' to claim the action fingerprint
    6 action_window_ms
    7 event_window_s
    8 limit_actor       max per minute, '0' = exempt
    9 limit_recipient   max per minute, '0' = exempt
   10 aggregate         '1' when the event folds into a window
   11 aggregation_window_ms
   12 candidate_id      the notification id if this event opens the window / is not aggregated
   13 created_at        ISO 8601, for a new notification
   14 actor_id          '' when none
   15 actor_name        display name, stored in the window for later aggregate messages
   16 head_json         the notification as JSON without '}' and without seq (not aggregated), or
                        its common fields (userId, type, priority, objectId) when aggregated
   17 single_message    the message of a one-actor notification
   18 verb              aggregate verb phrase ('liked your post')
   19 max_actors        actors listed on an aggregate
   20 max_event_ids     eventIds kept on an aggregate
   21 buffer_ttl_s
   22 unread_count_ttl_s
   23 priority          the inbox score's priority part (score = (max - priority) * 1e12 + seq)
   24 max_priority
   25 now_ms
   26 accepted_at_ms    '' when unknown
   27 wake_channel_prefix  <REDIS_KEY_PREFIX>wake: (each live instance's id is appended)
   28 actor_over        '1': the actor limit, counted before this call (on a cluster), is exceeded

  Returns { outcome, notificationId, json } where outcome is created | updated | stale
  (buffered; json = what the buffer holds now), duplicate (json = the buffered copy or false),
  duplicate_action, limited_actor, limited_recipient, suppressed.
]]

--#include WAKE_ROUTE

local eventId, userId, candidate = ARGV[2], ARGV[3], ARGV[12]
-- The eventId mark of an event that made no notification (a notification id is never '-').
local SUPPRESSED_MARK = '-'
local nowMs, ttl = ARGV[25], tonumber(ARGV[21])

-- KEYS[k] (14-17) names the candidate's key; the same key of notification `id`.
local function keyOf(k, id)
  if id == candidate then return KEYS[k] end
  return string.sub(KEYS[k], 1, #KEYS[k] - #candidate) .. id
end

local function stage(key, name, atMs)
  redis.call('HSETNX', key, name, atMs)
  redis.call('EXPIRE', key, ttl)
end

-- eventId dedupe: the mark holds what this event became, so a redelivery repeats the hand-off.
local produced = redis.call('GET', KEYS[1])
if produced == SUPPRESSED_MARK then return { 'duplicate', '', false } end
if produced then
  return { 'duplicate', produced, redis.call('GET', keyOf(14, produced)) }
end

-- Action dedupe: SET NX owned by the claiming eventId, so its own redelivery is not a duplicate.
local claimedNow = false
if ARGV[5] == '1' then
  claimedNow = redis.call('SET', KEYS[2], eventId, 'PX', ARGV[6], 'NX') ~= false
  if not claimedNow then
    local owner = redis.call('GET', KEYS[2])
    if owner and owner ~= eventId then return { 'duplicate_action', '', false } end
  end
end

-- The rate limits' window rule (consumer/rate-limits.ts RATE_WINDOW_LUA: countInWindow):
--#include RATE_WINDOW
local function overLimit(key, max)
  return countInWindow(key, 1) > max
end
-- A limited event delivers nothing, so it gives back the action it claimed: the same action
-- again (once the limit allows) is not a duplicate of something the user never got. It sets no
-- eventId mark: a flood of limited events must not cost a key each for the event window; a
-- redelivery after a crash is counted again, which only a crash can cause.
local function limited(outcome)
  if claimedNow then redis.call('DEL', KEYS[2]) end
  return { outcome, '', false }
end
if ARGV[28] == '1' then return limited('limited_actor') end
if tonumber(ARGV[8]) > 0 and overLimit(KEYS[3], tonumber(ARGV[8])) then return limited('limited_actor') end
if tonumber(ARGV[9]) > 0 and overLimit(KEYS[4], tonumber(ARGV[9])) then return limited('limited_recipient') end

if ARGV[4] == 'suppress' then
  -- No notification to hang the stages on: the event's own key holds them. The eventId mark
  -- says it was decided, so a redelivery is a duplicate, not counted against the limits again.
  if ARGV[26] ~= '' then redis.call('HSETNX', KEYS[13], 'accepted', ARGV[26]) end
  stage(KEYS[13], 'suppressed', nowMs)
  redis.call('SET', KEYS[1], SUPPRESSED_MARK, 'EX', ARGV[7])
  return { 'suppressed', '', false }
end

local seq = redis.call('INCR', KEYS[9])
local id, version, json

if ARGV[10] == '1' then
  -- The aggregation window: fixed from its first event, one notification, version = actors.
  local windowMs = ARGV[11]
  local createdAt, count, actors, eventIds
  if redis.call('EXISTS', KEYS[5]) == 0 then
    -- This event opens the window (the common case, and for most windows the only event): one
    -- key holds it all, the first actor, name and eventId as fields a1/nm1/e1. The actors zset,
    -- eventIds list and names hash exist only once a second actor arrives. No leftovers of an
    -- expired window need deleting: every key of a window carries the same expiry.
    id, createdAt, count, actors, eventIds = ARGV[12], ARGV[13], 1, { ARGV[14] }, { eventId }
    redis.call('HSET', KEYS[5], 'id', id, 'createdAt', createdAt, 'n', 1, 'a1', ARGV[14], 'nm1', ARGV[15], 'e1', eventId)
    redis.call('PEXPIRE', KEYS[5], windowMs)
  else
    local first = redis.call('HMGET', KEYS[5], 'a1', 'nm1', 'e1')
    if first[1] and first[1] ~= ARGV[14] then
      -- A second actor: the window takes its full form, with the first actor's state moved out.
      redis.call('ZADD', KEYS[6], 1, first[1])
      redis.call('RPUSH', KEYS[7], first[3])
      redis.call('HSET', KEYS[8], first[1], first[2])
      redis.call('HDEL', KEYS[5], 'a1', 'nm1', 'e1')
    end
    if first[1] == ARGV[14] then
      -- The opening actor again: not counted twice (the zset would have said the same).
    elseif not redis.call('ZSCORE', KEYS[6], ARGV[14]) then
      local n = redis.call('HINCRBY', KEYS[5], 'n', 1)
      redis.call('ZADD', KEYS[6], n, ARGV[14])
      redis.call('RPUSH', KEYS[7], eventId)
      redis.call('LTRIM', KEYS[7], -tonumber(ARGV[20]), -1)
      redis.call('HSET', KEYS[8], ARGV[14], ARGV[15])
      local left = redis.call('PTTL', KEYS[5])
      if left > 0 then
        redis.call('PEXPIRE', KEYS[6], left)
        redis.call('PEXPIRE', KEYS[7], left)
        redis.call('PEXPIRE', KEYS[8], left)
      end
    end
    local w = redis.call('HMGET', KEYS[5], 'id', 'createdAt', 'a1', 'e1')
    id, createdAt = w[1], w[2]
    if w[3] then
      -- Still one actor (the opener came back): the window's state is its own fields.
      count, actors, eventIds = 1, { w[3] }, { w[4] }
    else
      count = redis.call('ZCARD', KEYS[6])
      actors = redis.call('ZREVRANGE', KEYS[6], 0, tonumber(ARGV[19]) - 1)
      -- The list is oldest first; the notification lists its eventIds newest first.
      local folded = redis.call('LRANGE', KEYS[7], 0, -1)
      eventIds = {}
      for i = #folded, 1, -1 do eventIds[#eventIds + 1] = folded[i] end
    end
  end
  local message = ARGV[17]
  if count > 1 and actors[2] then
    -- Most recent first, two names at most, then "and N other(s)".
    local names = redis.call('HMGET', KEYS[8], actors[1], actors[2])
    local first, second = names[1] or actors[1], names[2] or actors[2]
    if count == 2 then
      message = first .. ' and ' .. second .. ' ' .. ARGV[18]
    else
      local others = count - 2
      message = first .. ', ' .. second .. ' and ' .. others .. (others == 1 and ' other ' or ' others ') .. ARGV[18]
    end
  end
  version = count
  json = ARGV[16] .. ',"id":' .. cjson.encode(id) .. ',"createdAt":' .. cjson.encode(createdAt)
    .. ',"actors":' .. cjson.encode(actors) .. ',"actorCount":' .. count
    .. ',"message":' .. cjson.encode(message) .. ',"version":' .. count
    .. ',"eventIds":' .. cjson.encode(eventIds) .. ',"seq":' .. seq .. '}'
else
  id, version = ARGV[12], 1
  json = ARGV[16] .. ',"seq":' .. seq .. '}'
end

-- The buffer write: only a higher version replaces a buffered one (two consumers folding into
-- one window may commit in any order); a rewritten version is pending again.
local notifKey = keyOf(14, id)
local outcome = 'created'
local raw = redis.call('GET', notifKey)
if raw then
  outcome = 'updated'
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and tonumber(decoded.version) >= version then outcome = 'stale' end
end
if outcome ~= 'stale' then
  local score = (tonumber(ARGV[24]) - tonumber(ARGV[23])) * 1e12 + seq
  redis.call('SET', notifKey, json, 'EX', ttl)
  redis.call('ZADD', KEYS[10], score, id)
  redis.call('EXPIRE', KEYS[10], ttl)
  -- A new id was never acked; a rewritten version must be acked again.
  if outcome == 'updated' then redis.call('DEL', keyOf(15, id)) end
  -- '<commit ms>:<version>' (shared/unpersisted-mark.ts): jobs' persist sweep tells a lost persist
  -- job by the time; an older version's persist batch leaves the mark of this one by the version.
  redis.call('SET', keyOf(16, id), nowMs .. ':' .. version, 'EX', ttl)
else
  json = raw
end
if outcome == 'created' then
  local countKey, versionKey, delta, countTtl = KEYS[11], KEYS[12], 1, tonumber(ARGV[22])
  -- The unread counter's rule (shared/unread.ts UNREAD_BUMP_LUA):
--#include UNREAD_BUMP
end

-- The marks, also on 'stale': a redelivery of this event is recognised as done.
redis.call('SET', KEYS[1], id, 'EX', ARGV[7])
-- The action claim runs from the commit; one made by this very call already does.
if ARGV[5] == '1' and not claimedNow then redis.call('SET', KEYS[2], eventId, 'PX', ARGV[6]) end
-- The notification's timeline: 'accepted' is the earliest of its events' (the events of one
-- aggregate may commit out of order), kept on its own key rather than one key per event.
-- Both stages in one HSET of what changes: each write here is replicated and appended to the AOF.
local timeline = keyOf(17, id)
local have = redis.call('HMGET', timeline, 'accepted', 'buffered')
local fields = {}
if ARGV[26] ~= '' then
  -- A value that is not a number (nothing here writes one) is replaced, not compared: an error
  -- would send a good event down the retry ladder.
  local was = tonumber(have[1])
  if not was or tonumber(ARGV[26]) < was then fields = { 'accepted', ARGV[26] } end
end
if not have[2] then
  fields[#fields + 1] = 'buffered'
  fields[#fields + 1] = nowMs
end
if #fields > 0 then redis.call('HSET', timeline, unpack(fields)) end
redis.call('EXPIRE', timeline, ttl)

if outcome ~= 'stale' and ARGV[4] == 'deliver' then
  local unread = ''
  local count = redis.call('GET', KEYS[11])
  if count then
    unread = ',"unread":{"count":' .. count .. ',"version":' .. (redis.call('GET', KEYS[12]) or '0') .. '}'
  end
  routeWake(KEYS[18], ARGV[27], '{"kind":"push","userId":' .. cjson.encode(userId) .. ',"notification":' .. json .. unread .. '}')
end

return { outcome, id, json }
