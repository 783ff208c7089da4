/**
 * The notification pipeline's client for Node (and browsers that load it through a bundler):
 * createClient for the WebSocket protocol (docs/protocol.md), createHttpClient for the read API.
 * Usage, options and events: docs/client.md. Browsers without a bundler load the same API as one
 * ES module from the ws-server's `/client.js` (client/browser-entry.ts).
 */
import { createClientWith } from './client.js';
import type { ClientOptions, NotificationClient } from './types.js';
import { resolveWebSocket } from './websocket.js';

export { createHttpClient, type HttpClient } from './http.js';
export { HttpClientError, type HistoryOptions, type HistoryPage, type HttpClientOptions } from './http-types.js';
export { CLIENT_ERROR_CODES } from './types.js';
export type * from './types.js';
export {
  CLOSE,
  ERROR_CODES,
  type ErrorCode,
  type NotificationBody,
  type ServerFrame,
} from '../shared/protocol/frames.js';
export type {
  NotificationStatus,
  NotificationView,
  PreferencesBody,
  ReadAllBody,
  ReadBody,
  TimelineBody,
  UnreadCountBody,
} from '../shared/protocol/http.js';

/** A client that reconnects, resumes, dedupes and batches acks; it starts connecting at once. */
export function createClient(options: ClientOptions): NotificationClient {
  return createClientWith(options, resolveWebSocket);
}
