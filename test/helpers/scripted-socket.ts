import {
  createClient,
  type ClientOptions,
  type NotificationClient,
  type ServerFrame,
  type WebSocketConstructor,
  type WebSocketEventLike,
} from '../../client/index.js';

export interface ScriptedSocket {
  readyState: number;
  /** Every frame the client sent, as sent (JSON text). */
  sent: string[];
  /** Hands the client a frame as the network would. */
  deliver(frame: ServerFrame): void;
  /** The server (or the network) closes the socket. */
  drop(code?: number, reason?: string): void;
  /** The ids of each ACK frame the client sent, in order. */
  acks(): string[][];
  /** Called with each frame the client sends, parsed: lets a test answer like a server. */
  onSend?: (frame: { type: string; notificationIds?: string[] }) => void;
}

/**
 * A WebSocket the test plays the server for: it opens on the next turn of the event loop, and the
 * test hands the client frames with `deliver`. No server is needed for the client's own logic.
 */
export function scriptedSocket(): { Ctor: WebSocketConstructor; sockets: ScriptedSocket[] } {
  const sockets: ScriptedSocket[] = [];
  function Scripted(): unknown {
    const listeners = new Map<string, ((e: WebSocketEventLike) => void)[]>();
    const emit = (type: string, e: WebSocketEventLike) => (listeners.get(type) ?? []).forEach((l) => l(e));
    const socket: ScriptedSocket & {
      send(data: string): void;
      close(): void;
      addEventListener(type: string, l: (e: WebSocketEventLike) => void): void;
    } = {
      readyState: 0,
      sent: [],
      send(data: string) {
        socket.sent.push(data);
        socket.onSend?.(JSON.parse(data) as { type: string; notificationIds?: string[] });
      },
      close() {
        socket.drop(1000, '');
      },
      drop(code = 1006, reason = '') {
        if (socket.readyState === 3) return;
        socket.readyState = 3;
        emit('close', { type: 'close', code, reason });
      },
      addEventListener(type: string, l: (e: WebSocketEventLike) => void) {
        listeners.set(type, [...(listeners.get(type) ?? []), l]);
      },
      deliver(frame: ServerFrame) {
        emit('message', { type: 'message', data: JSON.stringify(frame) });
      },
      acks() {
        return socket.sent
          .map((s) => JSON.parse(s) as { type: string; notificationIds?: string[] })
          .filter((f) => f.type === 'ACK')
          .map((f) => f.notificationIds ?? []);
      },
    };
    sockets.push(socket);
    setImmediate(() => {
      if (socket.readyState !== 0) return;
      socket.readyState = 1;
      emit('open', { type: 'open' });
    });
    return socket;
  }
  return { Ctor: Scripted as unknown as WebSocketConstructor, sockets };
}

/** A notification body as the server sends it. */
export function notificationBody(id: string, seq: number, version = 1) {
  return {
    id,
    seq,
    type: 'LIKE',
    message: `m${version}`,
    actors: ['a'],
    actorCount: version,
    objectId: 'p',
    priority: 1,
    createdAt: new Date(0).toISOString(),
    version,
  };
}

/** A client on a scripted socket as user u1, without heartbeat or reconnect unless `options` say otherwise. */
export function scriptedClient(
  ws: { Ctor: WebSocketConstructor },
  options: Partial<ClientOptions> = {},
): NotificationClient {
  return createClient({
    url: 'ws://test',
    userId: 'u1',
    WebSocket: ws.Ctor,
    heartbeat: false,
    reconnect: false,
    ...options,
  });
}
