import { WebSocket } from 'ws';
import type { WebSocketConstructor } from '../../client/index.js';
import type { ClientFrame, ServerFrame } from '../../shared/protocol/frames.js';

export interface RecordingWebSocket {
  /** Pass as the client's `WebSocket` option. */
  Ctor: WebSocketConstructor;
  /** Every frame the client sent, in order, over all its sockets. */
  sent: ClientFrame[];
  /** Every frame the server sent, in order, over all its sockets. */
  received: ServerFrame[];
  /** Every socket the client opened. */
  sockets: WebSocket[];
}

/**
 * Node's `ws` with the frames on the wire recorded at the client's end: what the server received
 * (how many ACK frames, which lastSeq an AUTH carried) and what it sent (redeliveries included).
 */
export function recordingWebSocket(): RecordingWebSocket {
  const sent: ClientFrame[] = [];
  const received: ServerFrame[] = [];
  const sockets: WebSocket[] = [];
  function Recording(url: string): WebSocket {
    const ws = new WebSocket(url);
    const send = ws.send.bind(ws);
    ws.send = ((data: string) => {
      sent.push(JSON.parse(data) as ClientFrame);
      send(data);
    }) as WebSocket['send'];
    ws.on('message', (data) => received.push(JSON.parse(String(data)) as ServerFrame));
    sockets.push(ws);
    return ws;
  }
  return { Ctor: Recording as unknown as WebSocketConstructor, sent, received, sockets };
}
