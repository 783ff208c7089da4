import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { notificationBody, scriptedClient, scriptedSocket } from '../helpers/scripted-socket.js';
import { eventually } from '../helpers/wait.js';

describe("client: the 'frame' event", () => {
  it('shows every server frame, the redelivery the client deduplicates and the ACKED included, before the client acts on it', async () => {
    const ws = scriptedSocket();
    const client = scriptedClient(ws, { ackDelayMs: 1 });
    const seen: string[] = [];
    client.on('frame', (f) => seen.push(f.type === 'NOTIFICATION' ? `frame ${f.notification.id}` : `frame ${f.type}`));
    client.on('notification', (n) => {
      seen.push(`notification ${n.id}`);
      client.ack(n.id);
    });
    await eventually(() => ws.sockets[0]?.sent.length === 1 || undefined, { what: 'AUTH sent' });
    const socket = ws.sockets[0]!;
    const n = notificationBody('n1', 1);
    socket.deliver({ type: 'AUTH_OK', userId: 'u1', pending: 0, recovered: true, catchingUp: false });
    socket.deliver({ type: 'NOTIFICATION', notification: n });
    await eventually(() => socket.sent.some((s) => s.includes('"ACK"')) || undefined, { what: 'the ACK' });
    socket.deliver({ type: 'ACKED', ids: ['n1'] });
    socket.deliver({ type: 'NOTIFICATION', notification: n });
    assert.deepEqual(seen, ['frame AUTH_OK', 'frame n1', 'notification n1', 'frame ACKED', 'frame n1']);
    await client.close();
  });
});
