-- The persist sweep's note that it handed a buffered version to jobs again (jobs/persist-sweep.ts):
-- the mark's time becomes now, so the sweep leaves it alone for another PERSIST_SWEEP_AFTER_MS,
-- but only if the mark is still the one the run read. A mark jobs deleted meanwhile (the job was
-- only late) stays deleted; one a newer commit rewrote belongs to that commit, which is fresh and
-- names its own version. KEEPTTL: the mark still goes when the buffered copy does.
-- KEYS: 1 unpersisted:{u:<user>}:<id>
-- ARGV: 1 the value the run read, 2 the new value ('<now ms>:<version handed over>',
--       shared/unpersisted-mark.ts)
-- Returns 1 if the mark was rewritten, else 0.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
