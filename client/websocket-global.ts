import type { WebSocketConstructor } from './types.js';

/** The WebSocket the environment provides (browsers, Node 22+, Deno, Bun), if any. */
export function globalWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}

/** The browser bundle's resolver: the option or the global WebSocket, nothing to import. */
export async function resolveGlobalWebSocket(option: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  const ctor = option ?? globalWebSocket();
  if (!ctor) throw new Error('no WebSocket in this environment: pass options.WebSocket');
  return ctor;
}
