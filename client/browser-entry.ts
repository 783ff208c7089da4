/**
 * The browser entry, bundled into the one ES module the ws-server serves at `/client.js`
 * (ws-server/client-script.ts; `npm run build` writes it to dist/client/browser.js): the same
 * API as client/index.ts with the global WebSocket only, so the bundle references no Node module.
 */
import { createClientWith } from './client.js';
import type { ClientOptions, NotificationClient } from './types.js';
import { resolveGlobalWebSocket } from './websocket-global.js';

export { createHttpClient, type HttpClient } from './http.js';
export { HttpClientError, type HistoryOptions, type HistoryPage, type HttpClientOptions } from './http-types.js';
export { CLIENT_ERROR_CODES } from './types.js';
export type * from './types.js';
export { CLOSE, ERROR_CODES } from '../shared/protocol/frames.js';

export function createClient(options: ClientOptions): NotificationClient {
  return createClientWith(options, resolveGlobalWebSocket);
}
