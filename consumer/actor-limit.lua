--[[
  actor-limit.lua: on a Redis Cluster, the actor rate limit of one actor's events in a batch, in one
  call before the batch's commit (consumer/rate-limits.ts). The actor's key has a slot of its own,
  not the recipient's that commit.lua runs in; on a single server commit.lua counts it itself.

  KEYS
    1 actorLimit  rl:actor:<actorId>
  ARGV
    1 n           how many of the batch's events of this actor count against the limit

  Returns the window's count after adding n: the batch's k-th such event (1-based) is the
  (count - n + k)-th of the window.
]]
--#include RATE_WINDOW
return countInWindow(KEYS[1], tonumber(ARGV[1]))
