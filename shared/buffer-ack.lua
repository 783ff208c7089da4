--[[
  One ACK frame of one user, atomically (shared/buffer.ts ackInBuffer): two devices or
  concurrent ACKs on one socket cannot corrupt the pending set, and jobs cannot clear an id's
  unpersisted mark between the acked mark and its check here (jobs re-reads the acked marks
  after clearing, jobs/persist.ts).

  Every key carries the user's hash tag {u:<userId>} (shared/keys.ts): one slot on a cluster.
  KEYS[1]                 inbox:{u:<user>}              the user's pending set
  then 4 per id, for the i-th id at 1 + 4(i-1) + 1..4:
    notif:{u:<user>}:<id>       the buffered notification (its userId is the ownership check,
                                kept although another user's id now names a key that is absent)
    acked:{u:<user>}:<id>       the acked mark (epoch ms of the first ack)
    unpersisted:{u:<user>}:<id> exists until jobs has stored the buffered version
    timeline:{u:<user>}:<id>    stage -> epoch ms

  ARGV[1]  userId
  ARGV[2]  nowMs (the ack time)
  ARGV[3]  ttlSeconds (acked mark, and a timeline that has no expiry)
  then 2 per id, for the i-th id at 3 + 2(i-1) + 1..2:
    id
    sentAtMs: when the acking instance first sent it, or '' when it does not know

  Returns 2 per id: outcome ('acked' | 'already-acked' | 'not-found'), then 1 if the
  unpersisted mark exists (jobs' persist job will carry the ack) else 0. A 'not-found' id (not
  buffered, or another user's) changes nothing.
]]
-- The timeline's rule (shared/timeline.ts RECORD_STAGES_LUA): recordStages(key, ttl, stages).
--#include RECORD_STAGES

local userId, nowMs, ttl = ARGV[1], ARGV[2], ARGV[3]
local n = (#KEYS - 1) / 4
local out = {}
for i = 1, n do
  local k = 1 + (i - 1) * 4
  local a = 3 + (i - 1) * 2
  local raw = redis.call('GET', KEYS[k + 1])
  local owned = false
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    owned = ok and decoded.userId == userId
  end
  if not owned then
    out[#out + 1] = 'not-found'
    out[#out + 1] = 0
  else
    redis.call('ZREM', KEYS[1], ARGV[a + 1])
    -- NX keeps the first ack's time; a repeated ACK is harmless.
    if redis.call('SET', KEYS[k + 2], nowMs, 'EX', ttl, 'NX') then
      out[#out + 1] = 'acked'
    else
      out[#out + 1] = 'already-acked'
    end
    out[#out + 1] = redis.call('EXISTS', KEYS[k + 3])
    recordStages(KEYS[k + 4], ttl, { 'acked', nowMs, 'sent', ARGV[a + 2] })
  end
end
return out
