import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameWindow } from '../../ws-server/frame-window.js';
import { FrameRateLimiter } from '../../ws-server/limits.js';
import type { Session } from '../../ws-server/session.js';

/**
 * The bound on frames handled at once (issue #16: 30,000 ACKs in flight stalled the event loop
 * and the shutdown). A frame past it waits in read order, its socket is not read further until
 * the queue is empty, and the burst the socket then delivers is not taken for a flood.
 */

/** The parts of a Session the window touches; `ws` counts pause()/resume(). */
function fakeSession(maxFramesPerSecond = 50) {
  const ws = {
    paused: 0,
    resumed: 0,
    pause() {
      this.paused++;
    },
    resume() {
      this.resumed++;
    },
  };
  const session = { state: 'ready', ws, limiter: new FrameRateLimiter(maxFramesPerSecond) };
  return { session: session as unknown as Session & { state: string }, ws };
}

/** A frame's handling that ends when the test says so; `log` records start order. */
function frames(log: string[]) {
  const done = new Map<string, () => void>();
  const frame = (name: string) => () => {
    log.push(name);
    return new Promise<void>((resolve) => done.set(name, resolve));
  };
  const finish = async (name: string) => {
    done.get(name)!();
    await new Promise((r) => setImmediate(r));
  };
  return { frame, finish };
}

describe('FrameWindow', () => {
  it('runs at most `limit` frames, queues the rest in read order and pauses their sockets until the queue is empty', async () => {
    const window = new FrameWindow(2);
    const a = fakeSession();
    const b = fakeSession();
    const started: string[] = [];
    const { frame, finish } = frames(started);
    window.submit(a.session, frame('a1'));
    window.submit(b.session, frame('b1'));
    window.submit(a.session, frame('a2'));
    window.submit(b.session, frame('b2'));
    window.submit(a.session, frame('a3'));
    assert.deepEqual(started, ['a1', 'b1']);
    assert.equal(window.size, 2);
    assert.equal(window.queued, 3);
    assert.equal(a.ws.paused, 1, 'paused once, however many of its frames wait');
    assert.equal(b.ws.paused, 1);

    await finish('b1');
    assert.deepEqual(started, ['a1', 'b1', 'a2'], 'the oldest waiting frame starts');
    await finish('a1');
    await finish('a2');
    assert.deepEqual(started, ['a1', 'b1', 'a2', 'b2', 'a3']);
    assert.equal(window.queued, 0);
    assert.equal(a.ws.resumed, 1, 'read again once nothing waits');
    assert.equal(b.ws.resumed, 1);
  });

  it('a frame read while others wait queues behind them even when there is room', async () => {
    const window = new FrameWindow(1);
    const a = fakeSession();
    const started: string[] = [];
    const { frame, finish } = frames(started);
    window.submit(a.session, frame('a1'));
    window.submit(a.session, frame('a2'));
    window.submit(a.session, frame('a3'));
    await finish('a1');
    assert.deepEqual(started, ['a1', 'a2']);
    await finish('a2');
    await finish('a3');
    assert.deepEqual(started, ['a1', 'a2', 'a3']);
  });

  it('drops the waiting frames of a socket closed meanwhile', async () => {
    const window = new FrameWindow(1);
    const a = fakeSession();
    const b = fakeSession();
    const started: string[] = [];
    const { frame, finish } = frames(started);
    window.submit(a.session, frame('a1'));
    window.submit(b.session, frame('b1'));
    window.submit(a.session, frame('a2'));
    b.session.state = 'closed';
    await finish('a1');
    assert.deepEqual(started, ['a1', 'a2']);
  });

  it('close() drops every waiting frame, takes no more and reads every paused socket again', async () => {
    const window = new FrameWindow(1);
    const a = fakeSession();
    const started: string[] = [];
    const { frame, finish } = frames(started);
    window.submit(a.session, frame('a1'));
    window.submit(a.session, frame('a2'));
    window.close();
    assert.equal(window.queued, 0);
    assert.equal(a.ws.resumed, 1);
    window.submit(a.session, frame('a3'));
    await finish('a1');
    assert.deepEqual(started, ['a1'], 'what waited or came later never runs');
    assert.equal(window.size, 0);
  });
});

describe('FrameRateLimiter credit for time the server did not read the socket', () => {
  it('lets the burst of a paused socket through, at the allowed rate over the pause, for one second', () => {
    const limiter = new FrameRateLimiter(50);
    const t = 1_000_000;
    limiter.credit(2000, t); // not read for 2 s: up to 100 frames queued at 50/s
    let allowed = 0;
    for (let i = 0; i < 200; i++) if (limiter.allow(t + 1)) allowed++;
    assert.equal(allowed, 150, 'the 50 of this second and the 100 sent while paused');
  });

  it('a credit not used lapses after a second: a flood later is still a flood', () => {
    const limiter = new FrameRateLimiter(50);
    const t = 1_000_000;
    limiter.credit(10_000, t);
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (limiter.allow(t + 1500)) allowed++;
    assert.equal(allowed, 50);
  });
});
