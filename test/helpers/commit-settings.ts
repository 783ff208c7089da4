import type { CommitSettings } from '../../consumer/commit.js';
import type { Config } from '../../shared/config.js';
import { keys } from '../../shared/keys.js';

/**
 * The consumer's commit settings for tests that call commitEvents directly: windows long enough
 * not to lapse during a test, limits high enough not to bite unless a test sets them.
 */
export function commitSettings(config: Config, overrides: Partial<CommitSettings> = {}): CommitSettings {
  return {
    keyPrefix: config.redis.keyPrefix,
    eventWindowSeconds: 3600,
    actionWindowMs: 10_000,
    aggregationWindowMs: 60_000,
    bufferTtlSeconds: 3600,
    rateLimitActorPerMinute: 1000,
    rateLimitRecipientPerMinute: 1000,
    wakeChannelPrefix: keys.wakeChannelPrefix(config.redis.keyPrefix),
    ...overrides,
  };
}
