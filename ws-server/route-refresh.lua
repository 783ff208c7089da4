--[[
  route-refresh.lua: this ws-server instance stays in one user's route (shared/wake-channel.ts)
  for another TTL; a refresh round sends one call per user it holds, all in one pipeline
  (ws-server/route.ts).

  KEYS
    1 route   wsroute:{u:<user>}  (zset instanceId -> expiry, epoch ms on the Redis clock)

  ARGV
    1 instance_id
    2 ttl_ms

  Returns 1 if the registration was still live, 0 if it had lapsed (or was lost): wakes for the
  user may have gone unpublished meanwhile, so the caller resyncs the user's sockets.
]]

--#include WAKE_ROUTE

return registerRoute(KEYS[1], ARGV[1], ARGV[2])
