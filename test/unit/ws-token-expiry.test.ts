import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import type { WebSocket } from 'ws';
import type { FrameRateLimiter } from '../../ws-server/limits.js';
import type { WsMetrics } from '../../ws-server/metrics.js';
import { Session } from '../../ws-server/session.js';

/**
 * A socket is closed 4401 when its token expires, however far away that is: setTimeout cannot
 * wait longer than 2^31-1 ms (24.8 days; JWT_MAX_LIFETIME_SECONDS allows 30) and would fire at
 * once instead, so a long expiry is reached in steps.
 */
describe('a session closes when its token expires', () => {
  const DAY_MS = 86_400_000;

  function fakeSession() {
    const closes: { code: number; reason: string }[] = [];
    const ws = {
      OPEN: 1,
      readyState: 1,
      close: (code: number, reason: string) => closes.push({ code, reason }),
      terminate: () => undefined,
    };
    const metrics = { closed: { inc: () => undefined } };
    const session = new Session(
      ws as unknown as WebSocket,
      1024,
      metrics as unknown as WsMetrics,
      {} as FrameRateLimiter,
    );
    return { session, closes };
  }

  it('waits for an expiry 30 days away and closes then, not before', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 });
    try {
      // Mocked timers do not overflow as real ones do: record the delays asked for.
      const delays: number[] = [];
      const mockedSetTimeout = globalThis.setTimeout;
      mock.method(globalThis, 'setTimeout', (fn: () => void, ms: number) => {
        delays.push(ms);
        return mockedSetTimeout(fn, ms);
      });
      const { session, closes } = fakeSession();
      session.expireAt(Date.now() + 30 * DAY_MS);
      mock.timers.tick(2 ** 31 - 1);
      mock.timers.tick(1);
      assert.deepEqual(closes, [], 'still open past the longest single timer');
      mock.timers.tick(30 * DAY_MS - 2 ** 31 - 1);
      assert.deepEqual(closes, [], 'still open 1 ms before expiry');
      mock.timers.tick(1);
      assert.deepEqual(closes, [{ code: 4401, reason: 'token expired' }]);
      assert.equal(session.state, 'closed');
      assert.ok(
        delays.length >= 2 && delays.every((ms) => ms <= 2 ** 31 - 1),
        `every delay fits a timer: ${delays.join(', ')}`,
      );
    } finally {
      mock.restoreAll();
      mock.timers.reset();
    }
  });

  it('closes at once when the token is already past', () => {
    const { session, closes } = fakeSession();
    session.expireAt(Date.now() - 1);
    assert.deepEqual(closes, [{ code: 4401, reason: 'token expired' }]);
  });
});
