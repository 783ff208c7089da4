import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import type { FrameRateLimiter } from '../../ws-server/limits.js';
import type { WsMetrics } from '../../ws-server/metrics.js';
import { Session } from '../../ws-server/session.js';

/**
 * A replay or resync read before an ACK landed must not show the acked version again (the chaos
 * suite's Redis restart showed 6 such frames after its resync): the socket remembers what it acked.
 */
describe('a socket remembers the versions it acked', () => {
  const session = () => new Session({} as WebSocket, 1024, {} as WsMetrics, {} as FrameRateLimiter);

  it('skips the acked version and older ones, never a newer version', () => {
    const s = session();
    s.rememberAcked('n1', 2);
    assert.equal(s.ackedAlready('n1', 1), true);
    assert.equal(s.ackedAlready('n1', 2), true);
    assert.equal(s.ackedAlready('n1', 3), false, 'a grown aggregate goes out again');
    assert.equal(s.ackedAlready('n2', 1), false);
  });

  it('keeps a bounded number, forgetting the oldest first', () => {
    const s = session();
    for (let i = 0; i < 1001; i++) s.rememberAcked(`id${i}`, 1);
    assert.equal(s.recentlyAcked.size, 1000);
    assert.equal(s.ackedAlready('id0', 1), false);
    assert.equal(s.ackedAlready('id1000', 1), true);
    s.rememberAcked('id1', 1); // acked again: now the most recent
    s.rememberAcked('idX', 1);
    assert.equal(s.ackedAlready('id1', 1), true);
    assert.equal(s.ackedAlready('id2', 1), false);
  });
});
