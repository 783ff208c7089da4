import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evictionPolicyOf } from '../../shared/redis.js';

/** `INFO memory` as Redis 7 writes it (CRLF line ends), around the one line that matters. */
const info = (policy: string) =>
  [
    '# Memory',
    'used_memory:1048576',
    'maxmemory:0',
    `maxmemory_policy:${policy}`,
    'allocator_frag_ratio:1.00',
    '',
  ].join('\r\n');

describe('Redis eviction policy check (shared/redis.ts)', () => {
  it('noeviction is safe: no warning', () => {
    assert.deepEqual(evictionPolicyOf(info('noeviction')), { policy: 'noeviction', safe: true });
  });

  it('any policy that evicts is not', () => {
    for (const policy of ['allkeys-lru', 'volatile-lru', 'allkeys-lfu', 'volatile-ttl', 'allkeys-random']) {
      assert.deepEqual(evictionPolicyOf(info(policy)), { policy, safe: false }, policy);
    }
  });

  it('a text that names no policy decides nothing', () => {
    assert.equal(evictionPolicyOf('# Memory\r\nused_memory:1\r\n'), undefined);
    assert.equal(evictionPolicyOf(''), undefined);
  });
});
