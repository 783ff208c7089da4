/* global fetch */
// The producer routes the client library does not cover because an inbox app does not need them:
// the demo's user list, event intake (the backend's job; the demo does it to have something to
// show) and a notification's pipeline timeline.

export class ProducerError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function producerApi(baseUrl, getToken) {
  async function call(method, path, { body, headers = {}, asUser = true } = {}) {
    const token = asUser ? await getToken?.() : undefined;
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new ProducerError(res.status, data.error, data.message);
    return data;
  }
  return {
    users: async () => (await call('GET', '/users')).users,
    timeline: (id) => call('GET', `/notifications/${encodeURIComponent(id)}/timeline`),
    /** Intake takes the backend's API key, never a user's token. */
    fire: (event, apiKey) => call('POST', '/events', {
      body: event, asUser: false, headers: apiKey ? { authorization: `ApiKey ${apiKey}` } : {},
    }),
  };
}
