import type { ClientOptions, NotificationClient, WebSocketConstructor } from './types.js';

export type WebSocketResolver = (option: WebSocketConstructor | undefined) => Promise<WebSocketConstructor>;

export function createClientWith(_options: ClientOptions, _resolve: WebSocketResolver): NotificationClient {
  throw new Error('not implemented yet');
}
