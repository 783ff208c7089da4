--[[
  idempotency.lua: records which event an eventId chosen by a client (an Idempotency-Key, or a
  body eventId) was first accepted with, and says which one it was (producer/idempotency.ts). One
  round trip, atomic: of two requests racing with one key, exactly one records its event.
  (SET NX GET does the same in one command, but only from Redis 7.0.)

  The key is untagged (shared/keys.ts): it is the only key the script touches, so on a cluster it
  lives in any slot.

  KEYS
    1 claim        idem:<eventId>
  ARGV
    1 fingerprint  the event's fingerprint (a hash of its canonical JSON without the eventId)
    2 ttlSeconds   EVENT_DEDUPE_WINDOW_SECONDS: as long as the consumer drops a repeated eventId

  Returns the fingerprint recorded before this call, or false (nil to the client) when there was
  none and this call recorded its own.
]]
local before = redis.call('GET', KEYS[1])
if before then return before end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
