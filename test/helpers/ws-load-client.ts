import { WebSocket } from 'ws';

/*
 * A child process holding many authenticated sockets that ACK what they receive, for tests of
 * the ws-server under load (test/e2e/ws-shutdown-load.test.ts drives it over IPC). A process of its
 * own so the sockets, their frames and their close handshakes do not compete with the test's
 * own event loop, and so one process's file-descriptor limit is not the test's.
 *
 * Each socket ACKs every NOTIFICATION at once, one id per frame, and records what the server
 * answered ACKED for: those are the acks the server confirmed, which a shutdown must not lose.
 */

export type LoadParentMessage =
  | { type: 'connect'; port: number; userIds: string[]; concurrency: number; ack: boolean; replayLimit: number }
  | { type: 'report' }
  | { type: 'close' };

export interface LoadReport {
  /** Sockets that got AUTH_OK and are still open. */
  open: number;
  /** NOTIFICATION frames received, redeliveries and replays included. */
  received: number;
  /** `id:version` of every notification the server answered ACKED for, per user. */
  acked: Record<string, string[]>;
  /** NOTIFICATION frames of an `id:version` this user had already been answered ACKED for. */
  receivedAfterAck: string[];
  /** How the server closed each socket that had been authenticated: close code → sockets. */
  closeCodes: Record<string, number>;
  /** AUTH_OK `pending` summed over the sockets of the last connect. */
  pending: number;
  /** The replay those AUTH_OKs announce: `pending` per socket, at most REPLAY_LIMIT each. */
  replayExpected: number;
}

export type LoadChildMessage =
  | { type: 'ready' }
  | { type: 'connected'; authed: number; failures: number; firstFailure: string | null }
  | ({ type: 'report' } & LoadReport);

const HANDSHAKE_TIMEOUT_MS = 20_000;

const sockets = new Set<WebSocket>();
let received = 0;
let pending = 0;
let replayExpected = 0;
/** Per user: `id:version` answered ACKED (the version is the one this socket acked). */
const acked = new Map<string, Set<string>>();
const receivedAfterAck: string[] = [];
const closeCodes = new Map<number, number>();

function send(message: LoadChildMessage): void {
  process.send?.(message);
}

function connectOne(port: number, userId: string, ack: boolean, replayLimit: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, {
      perMessageDeflate: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    let ok = false;
    /** id → version this socket sent an ACK for and awaits ACKED of. */
    const awaiting = new Map<string, number>();
    const mine = acked.get(userId) ?? new Set<string>();
    acked.set(userId, mine);
    ws.on('open', () => {
      sockets.add(ws);
      ws.send(JSON.stringify({ type: 'AUTH', userId }));
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as {
        type: string;
        pending?: number;
        ids?: string[];
        notification?: { id: string; version: number };
      };
      if (frame.type === 'AUTH_OK') {
        ok = true;
        pending += frame.pending ?? 0;
        replayExpected += Math.min(frame.pending ?? 0, replayLimit);
        resolve();
      } else if (frame.type === 'NOTIFICATION' && frame.notification) {
        received++;
        const { id, version } = frame.notification;
        if (mine.has(`${id}:${version}`)) receivedAfterAck.push(`${userId}/${id}:${version}`);
        if (!ack) return;
        awaiting.set(id, version);
        ws.send(JSON.stringify({ type: 'ACK', notificationIds: [id] }));
      } else if (frame.type === 'ACKED') {
        for (const id of frame.ids ?? []) {
          const version = awaiting.get(id);
          if (version === undefined) continue;
          awaiting.delete(id);
          mine.add(`${id}:${version}`);
        }
      }
    });
    ws.on('close', (code) => {
      sockets.delete(ws);
      if (!ok) return reject(new Error(`closed before AUTH_OK (code ${code})`));
      closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
    });
    ws.on('error', (err) => {
      if (!ok) reject(err);
    });
  });
}

async function connectAll(
  port: number,
  userIds: string[],
  concurrency: number,
  ack: boolean,
  replayLimit: number,
): Promise<void> {
  closeCodes.clear();
  pending = 0;
  replayExpected = 0;
  receivedAfterAck.length = 0;
  const failures: string[] = [];
  let authed = 0;
  let next = 0;
  const worker = async () => {
    while (next < userIds.length) {
      const userId = userIds[next++]!;
      await connectOne(port, userId, ack, replayLimit).then(
        () => authed++,
        (err: unknown) => failures.push(`${userId}: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, userIds.length) }, worker));
  send({ type: 'connected', authed, failures: failures.length, firstFailure: failures[0] ?? null });
}

function report(): void {
  send({
    type: 'report',
    open: sockets.size,
    received,
    acked: Object.fromEntries([...acked].map(([userId, ids]) => [userId, [...ids]])),
    receivedAfterAck,
    closeCodes: Object.fromEntries(closeCodes),
    pending,
    replayExpected,
  });
}

process.on('message', (message: LoadParentMessage) => {
  if (message.type === 'connect')
    void connectAll(message.port, message.userIds, message.concurrency, message.ack, message.replayLimit);
  else if (message.type === 'report') report();
  else {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
send({ type: 'ready' });
