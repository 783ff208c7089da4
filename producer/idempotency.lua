--[[
  idempotency.lua: records which event each eventId chosen by a client (an Idempotency-Key, or a
  body eventId) was first accepted with, and says which one it was (producer/idempotency.ts).
  Every check of one event-loop turn of the producer goes in one call (one request, not one per
  event); each key is handled in order, atomically: of two requests racing with one key (in one
  call or in two), exactly one records its event. (SET NX GET does the same for one key, but only
  from Redis 7.0.)

  The keys are untagged (shared/keys.ts): on a cluster each call carries one key, so it lives in
  any slot.

  KEYS
    1..n  claim        idem:<eventId>, one per event checked
  ARGV
    1..n  fingerprint  KEYS[i]'s event's fingerprint (a hash of its canonical JSON without the eventId)
    n+1   ttlSeconds   EVENT_DEDUPE_WINDOW_SECONDS: as long as the consumer drops a repeated eventId

  Returns one entry per key: the fingerprint recorded before this call, or false (nil to the
  client) when there was none and this call recorded KEYS[i]'s.
]]

local n = #KEYS
local ttl = ARGV[n + 1]
local out = {}
for i = 1, n do
  local before = redis.call('GET', KEYS[i])
  if before then
    out[i] = before
  else
    redis.call('SET', KEYS[i], ARGV[i], 'EX', ttl)
    out[i] = false
  end
end
return out
