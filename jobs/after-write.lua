-- What follows a persist batch's insert, in one atomic call (jobs/after-write.ts): the whole
-- batch on a single server, one user's part of it on a Redis Cluster (every key below carries its
-- user's hash tag {u:<userId>}, shared/keys.ts, so such a call is one slot).
-- KEYS: U  stored:{u:<user>}               users with inserts, in ARGV's order
--       U  caprecheck:{u:<user>}           the same users' cap thresholds (jobs/cap.ts; read only)
--       N  groups of 5, one per notification:
--          unpersisted:{u:<user>}:<id>, acked:..., readmark:..., timeline:..., notif:...
--       R  replay-clean:{u:<user>}         users with a notification stored undelivered
-- ARGV: U, N, timeline TTL seconds (for a timeline without an expiry), persisted-at epoch ms,
--       U increments (documents the insert created per user),
--       N replay-clean indexes (0: stored delivered or read, nothing to check;
--         k > 0: stored undelivered, its user's mark is the k-th of the R keys),
--       N versions (the version of each notification this batch stored)
-- Returns 2U + 2N values: each user's counter after the increment, then each user's cap
-- threshold, then each notification's acked mark, then its read mark (nil when absent).
-- The timeline's rule (shared/timeline.ts RECORD_STAGES_LUA): recordStages(key, ttl, stages).
--#include RECORD_STAGES

local u = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local ttl = ARGV[3]
local at = ARGV[4]
local out = {}

for j = 1, u do
  out[j] = redis.call('INCRBY', KEYS[j], ARGV[4 + j])
  out[u + j] = redis.call('GET', KEYS[u + j])
end

local marks = 2 * u + 5 * n
for i = 1, n do
  local k = 2 * u + (i - 1) * 5
  -- The unpersisted mark goes before the acked mark is read, in the same atomic call: an ACK
  -- that still saw the mark had set acked:{id} before this script ran, so the read below sees it.
  -- Only a mark of this version or an older one goes ('<ms>:<version>', shared/unpersisted-mark.ts):
  -- a newer version committed meanwhile keeps its mark until its own batch stores it, so the
  -- persist sweep still finds it if that batch is lost. A mark without a version (written before
  -- it held one) goes as it always did.
  local mark = redis.call('GET', KEYS[k + 1])
  local markVersion = mark and tonumber(string.match(mark, ':(%d+)$'))
  if mark and (not markVersion or markVersion <= tonumber(ARGV[4 + u + n + i])) then
    redis.call('DEL', KEYS[k + 1])
  end
  out[2 * u + i] = redis.call('GET', KEYS[k + 2])
  out[2 * u + n + i] = redis.call('GET', KEYS[k + 3])
  recordStages(KEYS[k + 4], ttl, { 'persisted', at })
  local clean = tonumber(ARGV[4 + u + i])
  if clean > 0 and redis.call('EXISTS', KEYS[k + 5]) == 0 then
    redis.call('DEL', KEYS[marks + clean])
  end
end

return out
