import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createClient,
  type ServerFrame,
  type WebSocketConstructor,
  type WebSocketEventLike,
} from '../../client/index.js';
import { eventually } from '../helpers/wait.js';

/**
 * A socket the test plays the server for: it opens at once, and `deliver` hands the client a
 * frame as the network would. No server is needed: the 'frame' event is the client's own.
 */
function scriptedSocket() {
  const sockets: { deliver(frame: ServerFrame): void; sent: string[] }[] = [];
  function Scripted(): unknown {
    const listeners = new Map<string, ((e: WebSocketEventLike) => void)[]>();
    const emit = (type: string, e: WebSocketEventLike) => (listeners.get(type) ?? []).forEach((l) => l(e));
    const socket = {
      readyState: 0,
      sent: [] as string[],
      send(data: string) {
        socket.sent.push(data);
      },
      close() {
        socket.readyState = 3;
        emit('close', { type: 'close', code: 1000, reason: '' });
      },
      addEventListener(type: string, l: (e: WebSocketEventLike) => void) {
        listeners.set(type, [...(listeners.get(type) ?? []), l]);
      },
      deliver(frame: ServerFrame) {
        emit('message', { type: 'message', data: JSON.stringify(frame) });
      },
    };
    sockets.push(socket);
    setImmediate(() => {
      socket.readyState = 1;
      emit('open', { type: 'open' });
    });
    return socket;
  }
  return { Ctor: Scripted as unknown as WebSocketConstructor, sockets };
}

describe("client: the 'frame' event", () => {
  it('shows every server frame, the redelivery the client deduplicates and the ACKED included, before the client acts on it', async () => {
    const ws = scriptedSocket();
    const client = createClient({
      url: 'ws://test',
      userId: 'u1',
      WebSocket: ws.Ctor,
      heartbeat: false,
      reconnect: false,
      ackDelayMs: 1,
    });
    const seen: string[] = [];
    client.on('frame', (f) => seen.push(f.type === 'NOTIFICATION' ? `frame ${f.notification.id}` : `frame ${f.type}`));
    client.on('notification', (n) => {
      seen.push(`notification ${n.id}`);
      client.ack(n.id);
    });
    await eventually(() => ws.sockets[0]?.sent.length === 1 || undefined, { what: 'AUTH sent' });
    const socket = ws.sockets[0]!;
    const n = {
      id: 'n1',
      seq: 1,
      type: 'LIKE',
      message: 'm',
      actors: ['a'],
      actorCount: 1,
      objectId: 'p',
      priority: 1,
      createdAt: new Date(0).toISOString(),
      version: 1,
    };
    socket.deliver({ type: 'AUTH_OK', userId: 'u1', pending: 0, recovered: true, catchingUp: false });
    socket.deliver({ type: 'NOTIFICATION', notification: n });
    await eventually(() => socket.sent.some((s) => s.includes('"ACK"')) || undefined, { what: 'the ACK' });
    socket.deliver({ type: 'ACKED', ids: ['n1'] });
    socket.deliver({ type: 'NOTIFICATION', notification: n });
    assert.deepEqual(seen, ['frame AUTH_OK', 'frame n1', 'notification n1', 'frame ACKED', 'frame n1']);
    await client.close();
  });
});
