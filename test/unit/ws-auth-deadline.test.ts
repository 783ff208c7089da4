import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthDeadlines } from '../../ws-server/auth-deadline.js';
import type { Session } from '../../ws-server/session.js';

/** Only what the deadline reads: when the socket opened and whether its AUTH frame came. */
const socket = (name: string, openedAtMs: number, state: Session['state'] = 'new') =>
  ({ name, openedAtMs, state }) as unknown as Session & { name: string };

describe('AUTH deadline sweep', () => {
  it('cuts only sockets past the deadline that never sent AUTH, each once', () => {
    const expired: string[] = [];
    const deadlines = new AuthDeadlines(1000, (s) => expired.push((s as Session & { name: string }).name));
    try {
      const silent = socket('silent', 0);
      // AUTH arrived; the server is still verifying it or reading the replay: the server's delay, not the client's.
      const verifying = socket('verifying', 0, 'authenticating');
      const fresh = socket('fresh', 600);
      for (const s of [silent, verifying, fresh]) deadlines.add(s);

      deadlines.sweep(999);
      assert.deepEqual(expired, [], 'nobody is late yet');
      deadlines.sweep(1000);
      assert.deepEqual(expired, ['silent']);
      deadlines.sweep(1500);
      assert.deepEqual(expired, ['silent'], 'a cut socket is not cut again; the fresh one still has time');
      deadlines.sweep(1600);
      assert.deepEqual(expired, ['silent', 'fresh']);
    } finally {
      deadlines.stop();
    }
  });

  it('forgets a socket that closed before its deadline', () => {
    const expired: Session[] = [];
    const deadlines = new AuthDeadlines(1000, (s) => expired.push(s));
    try {
      const gone = socket('gone', 0);
      deadlines.add(gone);
      deadlines.remove(gone);
      deadlines.sweep(5000);
      assert.equal(expired.length, 0);
    } finally {
      deadlines.stop();
    }
  });
});
