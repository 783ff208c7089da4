import type { ErrorBody, NotificationStatus, NotificationView } from '../shared/protocol/http.js';

/** The read API helper's public types (docs/client.md "HTTP helper"). */

export interface HttpClientOptions {
  /** The producer, e.g. http://localhost:3000. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>`. Without token and getToken (dev mode) no header is sent. */
  token?: string;
  /** Called before every request (a fresh token each time). */
  getToken?: () => string | Promise<string>;
  /** Default: globalThis.fetch. */
  fetch?: typeof fetch;
}

export interface HistoryOptions {
  /** 1–100, default 20. */
  limit?: number;
  /** The previous page's `nextCursor`. */
  cursor?: string;
  /** true: unread only (undelivered or delivered). */
  unread?: boolean;
  /** One status only; not together with `unread`. */
  status?: NotificationStatus;
}

export interface HistoryPage {
  items: NotificationView[];
  /** null on the last page. */
  nextCursor: string | null;
}

/** A request the API answered with an error status, or that failed before an answer (status 0). */
export class HttpClientError extends Error {
  constructor(
    readonly status: number,
    /** The body's stable `error` code (docs/http-api.md), or `network_error` / `bad_response`. */
    readonly code: string,
    message: string,
    readonly body?: ErrorBody,
    /** Seconds from `Retry-After` (429, 503), when sent. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'HttpClientError';
  }
}
