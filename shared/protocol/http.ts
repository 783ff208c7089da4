import type { Notification } from '../notification.js';

/**
 * The read API's response bodies (docs/http-api.md, docs/openapi.yaml) as types the producer's
 * routes and the client (client/http.ts) share, so a changed field breaks the client's build.
 * Types only: the client imports this file in browsers.
 */

export type NotificationStatus = 'undelivered' | 'delivered' | 'read';

/**
 * A stored notification as the HTTP API shows it: the socket's fields (less the eventIds the
 * consumer keeps for dedupe), plus its state.
 */
export type NotificationView = Omit<Notification, 'eventIds'> & {
  status: NotificationStatus;
  /** ISO 8601. */
  deliveredAt: string | null;
  readAt: string | null;
};

/** `GET /users/:userId/notifications`: newest first; `nextCursor` is the next page's `before`. */
export interface HistoryPageBody {
  notifications: NotificationView[];
  nextCursor: string | null;
}

/** `GET /users/:userId/notifications/unread-count`. */
export interface UnreadCountBody {
  userId: string;
  unread: number;
  version: number;
}

/** `PATCH /notifications/:id/read`. */
export interface ReadBody {
  id: string;
  status: 'read';
  readAt: string;
}

/** `POST /users/:userId/notifications/read-all`. */
export interface ReadAllBody {
  userId: string;
  marked: number;
}

export type TimelineStage = 'accepted' | 'buffered' | 'sent' | 'acked' | 'persisted' | 'read';

/** `GET /notifications/:id/timeline`: ISO timestamps or null. */
export interface TimelineBody {
  id: string;
  userId: string;
  status: string;
  stages: Record<TimelineStage, string | null>;
}

/** `GET|PUT /users/:userId/preferences`: the whole document (PUT replaces it). */
export interface PreferencesBody {
  /** Types never notified. Transactional types cannot be muted. */
  mutedTypes: string[];
  promotionalOptOut: boolean;
  /** Local times of day (`HH:MM` or `HH:MM:SS`) in the IANA `timeZone`; end before start spans midnight. */
  doNotDisturb: { start: string; end: string; timeZone: string } | null;
}

/** Every error body: a stable code and a readable message, sometimes more (`details`, `eventId`). */
export interface ErrorBody {
  error: string;
  message?: string;
  details?: { field: string; message: string }[];
  [extra: string]: unknown;
}
