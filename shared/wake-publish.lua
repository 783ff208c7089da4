--[[
  wake-publish.lua: one wake, published on the channel of every ws-server instance whose
  registration in the user's route is live (shared/wake-channel.ts publishWake). The producer
  (unread changes) and the consumer's due do-not-disturb wakes call it; the buffer commit runs the
  same fragment inside consumer/commit.lua.

  KEYS
    1 route   wsroute:{u:<user>}  (zset instanceId -> expiry, epoch ms on the Redis clock)

  ARGV
    1 channel_prefix  <REDIS_KEY_PREFIX>wake: (the instance id is appended)
    2 body            the wake, JSON

  Returns how many subscribers heard it (PUBLISH's answers, summed).
]]

--#include WAKE_ROUTE

return routeWake(KEYS[1], ARGV[1], ARGV[2])
