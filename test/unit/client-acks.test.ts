import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AckBatcher } from '../../client/acks.js';
import { createClient, type NotificationClient } from '../../client/index.js';
import { notificationBody, scriptedSocket, type ScriptedSocket } from '../helpers/scripted-socket.js';
import { eventually } from '../helpers/wait.js';

const AUTH_OK = { type: 'AUTH_OK', userId: 'u1', pending: 0, recovered: true, catchingUp: false } as const;

/** A client on a scripted socket that acks every notification it emits, authenticated. */
async function openClient(
  ackDelayMs: number,
): Promise<{ client: NotificationClient; socket: ScriptedSocket; errors: string[] }> {
  const ws = scriptedSocket();
  const client = createClient({
    url: 'ws://test',
    userId: 'u1',
    WebSocket: ws.Ctor,
    heartbeat: false,
    reconnect: false,
    ackDelayMs,
  });
  const errors: string[] = [];
  client.on('error', (e) => errors.push(e.code));
  client.on('notification', (n) => client.ack(n.id));
  const socket = await eventually(() => (ws.sockets[0]?.sent.length === 1 ? ws.sockets[0] : undefined), {
    what: 'AUTH sent',
    timeoutMs: 2000,
  });
  socket.deliver(AUTH_OK);
  return { client, socket, errors };
}

describe('client: acking a grown aggregate', () => {
  it('acks the new version while the ACK of the old one is in flight; a late ACKED of the old one does not cancel it', () => {
    const frames: string[][] = [];
    const acks = new AckBatcher(1000, 10, (ids) => (frames.push(ids), true));
    acks.opened();
    acks.add('n1'); // version 1
    acks.flushAll();
    acks.add('n1'); // version 2 arrived before version 1's ACKED
    acks.confirmed(['n1']); // version 1's ACKED
    assert.equal(acks.owed, 1, "version 2's ack is still owed");
    acks.flushAll();
    assert.deepEqual(frames, [['n1'], ['n1']], 'the new version gets its own ACK');
    acks.confirmed(['n1']);
    assert.equal(acks.owed, 0);
    acks.stop();
  });

  it('keeps the new version owed when both ACKs are in flight and only the first is answered before a disconnect', () => {
    const frames: string[][] = [];
    const acks = new AckBatcher(1000, 10, (ids) => (frames.push(ids), true));
    acks.opened();
    acks.add('n1');
    acks.flushAll();
    acks.add('n1');
    acks.flushAll();
    acks.confirmed(['n1']); // answers the first frame only
    assert.equal(acks.owed, 1, 'the second ACK is unanswered');
    acks.closed();
    acks.opened();
    assert.deepEqual(frames, [['n1'], ['n1'], ['n1']], 'sent again after the next AUTH_OK');
    acks.confirmed(['n1']);
    assert.equal(acks.owed, 0);
    acks.stop();
  });

  it('sends an ACK for version 2 that arrived between the ACK of version 1 and its ACKED', async () => {
    const { client, socket } = await openClient(20);
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n1', 1, 1) });
    await eventually(() => socket.acks().length === 1 || undefined, { what: 'the ACK of version 1', timeoutMs: 2000 });
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n1', 2, 2) });
    socket.deliver({ type: 'ACKED', ids: ['n1'] }); // the answer to version 1's ACK
    await eventually(() => socket.acks().length === 2 || undefined, {
      what: 'an ACK for version 2',
      timeoutMs: 2000,
    });
    assert.deepEqual(socket.acks(), [['n1'], ['n1']]);
    await client.close();
  });
});
