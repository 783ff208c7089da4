import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import type { Notification } from '../../shared/notification.js';
import type { Redis } from '../../shared/redis.js';
import { Delivery } from '../../ws-server/delivery.js';
import type { FrameRateLimiter } from '../../ws-server/limits.js';
import type { WsMetrics } from '../../ws-server/metrics.js';
import type { ConnectionRegistry } from '../../ws-server/registry.js';
import { Session } from '../../ws-server/session.js';
import { capturedLog } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

/*
 * A redelivery check that fails (Redis unreachable) is logged with the error's message only, as
 * every log line is (errorMessage): a raw error object puts its stack, and whatever the client
 * library attached to it, in the log.
 */
describe('a failed redelivery check', () => {
  it('logs the error message, not the error object', async () => {
    const log = capturedLog('warn');
    const redis = {
      mget: () => Promise.reject(new Error('redis unreachable')),
    } as unknown as Redis;
    const metrics = { sent: { inc: () => undefined }, sendBufferPeakValue: 0 } as unknown as WsMetrics;
    const ws = { OPEN: 1, readyState: 1, bufferedAmount: 0, send: () => undefined } as unknown as WebSocket;
    const session = new Session(ws, 1024 * 1024, metrics, {} as FrameRateLimiter);
    const delivery = new Delivery(
      redis,
      {} as ConnectionRegistry,
      metrics,
      { ackTimeoutMs: 1, maxRedeliveries: 1 },
      log.logger,
    );
    const notification = { id: 'n1', userId: 'u1', seq: 1, version: 1 } as Notification;

    delivery.push(session, [notification]);
    const line = await eventually(() =>
      log.lines().find((l) => l.msg === 'redelivery check failed; the buffer keeps it for replay'),
    );
    session.markClosed();

    assert.equal(line.err, 'redis unreachable');
    assert.equal(line.notificationId, 'n1');
    assert.doesNotMatch(log.text(), /"stack"/);
  });
});
