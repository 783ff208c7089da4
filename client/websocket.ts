import type { WebSocketConstructor } from './types.js';
import { globalWebSocket } from './websocket-global.js';

/**
 * Where the WebSocket comes from in Node: the option, the global one (Node 22+), else the `ws`
 * package, imported only then. The specifier is a variable so that bundlers leave the import
 * alone; the browser bundle (client/browser-entry.ts) does not include this file at all.
 */
const WS_MODULE = 'ws';

export async function resolveWebSocket(option: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  const ctor = option ?? globalWebSocket();
  if (ctor) return ctor;
  const mod = (await import(WS_MODULE)) as { default?: WebSocketConstructor; WebSocket?: WebSocketConstructor };
  const imported = mod.WebSocket ?? mod.default;
  if (!imported) throw new Error('the ws module exports no WebSocket');
  return imported;
}
