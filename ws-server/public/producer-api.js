/* global fetch */
// The producer routes the client library does not cover because an inbox app does not need them:
// the demo's user list and event intake (the backend's job; the demo does it to have something
// to show).

export class ProducerError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function producerApi(baseUrl) {
  async function call(method, path, { body, headers = {} } = {}) {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new ProducerError(res.status, data.error, data.message);
    return data;
  }
  return {
    users: async () => (await call('GET', '/users')).users,
    /** Intake takes the backend's API key, never a user's token. */
    fire: (event, apiKey) =>
      call('POST', '/events', { body: event, headers: apiKey ? { authorization: `ApiKey ${apiKey}` } : {} }),
  };
}
