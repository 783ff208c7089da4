--[[
  One ACK frame of one user, atomically (shared/buffer.ts ackInBuffer): two devices or
  concurrent ACKs on one socket cannot corrupt the pending set, and jobs cannot clear an id's
  unpersisted mark between the acked mark and its check here (jobs re-reads the acked marks
  after clearing, jobs/persist.ts).

  An ACK settles the version the client holds, never a newer one: a grown aggregate (same id,
  higher version) committed after the client got the old one is pending again
  (consumer/commit.lua clears its acked mark), and an ACK of the old one arriving late must leave
  it so, or the new version would never be delivered nor replayed.

  Every key carries the user's hash tag {u:<userId>} (shared/keys.ts): one slot on a cluster.
  KEYS[1]                 inbox:{u:<user>}              the user's pending set
  then 4 per id, for the i-th id at 1 + 4(i-1) + 1..4:
    notif:{u:<user>}:<id>       the buffered notification (its userId is the ownership check,
                                kept although another user's id now names a key that is absent;
                                its version is what the ACK's version is compared with)
    acked:{u:<user>}:<id>       the acked mark (epoch ms of the first ack of the buffered version)
    unpersisted:{u:<user>}:<id> exists until jobs has stored the buffered version
    timeline:{u:<user>}:<id>    stage -> epoch ms

  ARGV[1]  userId
  ARGV[2]  nowMs (the ack time)
  ARGV[3]  ttlSeconds (acked mark, and a timeline that has no expiry)
  then 3 per id, for the i-th id at 3 + 3(i-1) + 1..3:
    id
    sentAtMs: when the acking instance first sent it, or '' when it does not know
    version: the version the client acks, or '' when it is not known (then the buffered one)

  Returns 4 per id:
    outcome: 'acked' | 'already-acked' | 'not-found' | 'stale-version'
    1 if the unpersisted mark exists (jobs' persist job will carry the ack) else 0
    the buffered version (0 for 'not-found'): the version the ack settled
    for 'stale-version' the buffered notification's JSON (to push it), else false (nil)
  'stale-version': the buffered version is newer than the one acked and not acked yet; nothing
  changes (still pending, no acked mark, no timeline stage). A 'not-found' id (not buffered, or
  another user's) changes nothing either. An older version acked after the newer one was acked
  (by another device) is 'already-acked', as any repeated ACK.
]]
-- The timeline's rule (shared/timeline.ts RECORD_STAGES_LUA): recordStages(key, ttl, stages).
--#include RECORD_STAGES

local userId, nowMs, ttl = ARGV[1], ARGV[2], ARGV[3]
local n = (#KEYS - 1) / 4
local out = {}
for i = 1, n do
  local k = 1 + (i - 1) * 4
  local a = 3 + (i - 1) * 3
  local raw = redis.call('GET', KEYS[k + 1])
  local decoded
  if raw then
    local ok, value = pcall(cjson.decode, raw)
    if ok and type(value) == 'table' and value.userId == userId then decoded = value end
  end
  if not decoded then
    out[#out + 1] = 'not-found'
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = false
  else
    local buffered = tonumber(decoded.version) or 1
    local acking = tonumber(ARGV[a + 3])
    if acking and acking < buffered and redis.call('EXISTS', KEYS[k + 2]) == 0 then
      out[#out + 1] = 'stale-version'
      out[#out + 1] = 0
      out[#out + 1] = buffered
      out[#out + 1] = raw
    else
      redis.call('ZREM', KEYS[1], ARGV[a + 1])
      -- NX keeps the first ack's time; a repeated ACK is harmless.
      if redis.call('SET', KEYS[k + 2], nowMs, 'EX', ttl, 'NX') then
        out[#out + 1] = 'acked'
      else
        out[#out + 1] = 'already-acked'
      end
      out[#out + 1] = redis.call('EXISTS', KEYS[k + 3])
      out[#out + 1] = buffered
      out[#out + 1] = false
      recordStages(KEYS[k + 4], ttl, { 'acked', nowMs, 'sent', ARGV[a + 2] })
    end
  end
end
return out
