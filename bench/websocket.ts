import { WebSocket } from 'ws';
import type { WebSocketConstructor } from '../client/index.js';

export interface BenchSocketOptions {
  /** Fail a handshake the server leaves unanswered (a server at its fd limit) instead of waiting forever. */
  handshakeTimeoutMs?: number;
  /** Sees every frame the client sends, before it goes out (the fleet reads its ACK frames' clock from it). */
  onSend?: (data: string) => void;
}

/**
 * Node's `ws` for the client's `WebSocket` option, opened the way the bench's sockets always
 * were: no permessage-deflate offer, so a server that enabled compression would not make the
 * harness compress, and results stay comparable with earlier runs.
 */
export function benchWebSocket({ handshakeTimeoutMs, onSend }: BenchSocketOptions = {}): WebSocketConstructor {
  function BenchSocket(url: string): WebSocket {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: handshakeTimeoutMs }),
    });
    if (onSend) {
      const send = ws.send.bind(ws);
      ws.send = ((data: string) => {
        onSend(data);
        send(data);
      }) as WebSocket['send'];
    }
    return ws;
  }
  // Called with `new` by the client: a constructor function that returns an object yields that object.
  return BenchSocket as unknown as WebSocketConstructor;
}
