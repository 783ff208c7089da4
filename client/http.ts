import type {
  ErrorBody,
  HistoryPageBody,
  PreferencesBody,
  ReadAllBody,
  ReadBody,
  TimelineBody,
  UnreadCountBody,
} from '../shared/protocol/http.js';
import { HttpClientError, type HistoryOptions, type HistoryPage, type HttpClientOptions } from './http-types.js';

/** The read API (docs/http-api.md "History and read API", "Preferences"), typed. Every method throws HttpClientError. */
export interface HttpClient {
  /** `GET /users/:userId/notifications`: one page, newest first. */
  history(userId: string, options?: HistoryOptions): Promise<HistoryPage>;
  /** `GET /users/:userId/notifications/unread-count`: the count and version the socket frames carry. */
  unreadCount(userId: string): Promise<UnreadCountBody>;
  /**
   * `PATCH /notifications/:id/read`. The route names the notification only (the token's user must
   * own it); `userId` is taken for symmetry with the other calls and not sent.
   */
  markRead(userId: string, id: string): Promise<ReadBody>;
  /** `POST /users/:userId/notifications/read-all`. */
  markAllRead(userId: string): Promise<ReadAllBody>;
  /** `GET /notifications/:id/timeline`: when each pipeline stage happened. */
  timeline(id: string): Promise<TimelineBody>;
  getPreferences(userId: string): Promise<PreferencesBody>;
  /** Replaces the whole document; omitted fields take their defaults. */
  putPreferences(userId: string, prefs: Partial<PreferencesBody>): Promise<PreferencesBody>;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const seg = encodeURIComponent;

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = options.getToken ? await options.getToken() : options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new HttpClientError(
        0,
        'network_error',
        `${method} ${path} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const errorBody = isErrorBody(parsed) ? parsed : undefined;
      const retryAfter = Number(res.headers.get('retry-after'));
      throw new HttpClientError(
        res.status,
        errorBody?.error ?? `http_${res.status}`,
        errorBody?.message ?? `${method} ${path} answered ${res.status}`,
        errorBody,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      );
    }
    if (parsed === undefined)
      throw new HttpClientError(res.status, 'bad_response', `${method} ${path}: the answer is not JSON`);
    return parsed as T;
  }

  return {
    async history(userId, opts = {}) {
      const query = new URLSearchParams();
      if (opts.limit !== undefined) query.set('limit', String(opts.limit));
      if (opts.cursor) query.set('before', opts.cursor);
      const status = opts.unread ? 'unread' : opts.status;
      if (status) query.set('status', status);
      const qs = query.toString();
      const page = await request<HistoryPageBody>('GET', `/users/${seg(userId)}/notifications${qs ? `?${qs}` : ''}`);
      return { items: page.notifications, nextCursor: page.nextCursor };
    },
    unreadCount: (userId) => request('GET', `/users/${seg(userId)}/notifications/unread-count`),
    markRead: (_userId, id) => request('PATCH', `/notifications/${seg(id)}/read`),
    markAllRead: (userId) => request('POST', `/users/${seg(userId)}/notifications/read-all`),
    timeline: (id) => request('GET', `/notifications/${seg(id)}/timeline`),
    getPreferences: (userId) => request('GET', `/users/${seg(userId)}/preferences`),
    putPreferences: (userId, prefs) => request('PUT', `/users/${seg(userId)}/preferences`, prefs),
  };
}

function isErrorBody(value: unknown): value is ErrorBody {
  return typeof value === 'object' && value !== null && typeof (value as { error?: unknown }).error === 'string';
}
