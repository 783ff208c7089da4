import { CLOSE, TOKEN_EXPIRED_REASON } from '../shared/protocol/frames.js';

/**
 * What a close code from the server means for reconnecting (docs/client.md "Close codes"):
 * - `now`: reconnect at once: 1001 (the instance is shutting down; another takes the socket),
 *   4401 "token expired" with a getToken to fetch a fresh one.
 * - `backoff`: a transient problem: the network (1006), an overloaded or restarting server
 *   (1011-1014), too many sockets for the user or too many frames (1008: another tab may close,
 *   the rate recovers), a frame too large (1009), the AUTH deadline (4401 "authentication timeout").
 * - `stop`: reconnecting cannot help: the credentials are refused (4401) and there is no
 *   getToken to get others (or it produced refused ones MAX_AUTH_REFUSALS times in a row), the
 *   server speaks another protocol (1002, 1003, 1007, 1010), or an application code 4000-4999
 *   the protocol does not list (e.g. a proxy's 4403 "forbidden").
 */
export type CloseAction = 'now' | 'backoff' | 'stop';

/** Refusals of fresh tokens in a row before the client gives up (a getToken that keeps producing bad ones). */
export const MAX_AUTH_REFUSALS = 3;

export interface CloseContext {
  /** The client has getToken: a new connection can carry a different token. */
  refreshable: boolean;
  /** AUTH refusals (4401 other than expiry of an open socket) since the last AUTH_OK, this one included. */
  authRefusals: number;
}

const PERMANENT = new Set([1002, 1003, 1007, 1010]);

export function closeAction(code: number, reason: string, ctx: CloseContext): CloseAction {
  if (code === CLOSE.goingAway) return 'now';
  if (code === CLOSE.authFailed) {
    if (reason === TOKEN_EXPIRED_REASON) return ctx.refreshable ? 'now' : 'stop';
    if (reason.startsWith('authentication timeout')) return 'backoff';
    return ctx.refreshable && ctx.authRefusals < MAX_AUTH_REFUSALS ? 'backoff' : 'stop';
  }
  if (PERMANENT.has(code) || (code >= 4000 && code <= 4999)) return 'stop';
  return 'backoff';
}

/** A 4401 that counts as a refusal of the credentials sent (not the expiry of an accepted token, not a slow AUTH). */
export function isAuthRefusal(code: number, reason: string): boolean {
  return code === CLOSE.authFailed && reason !== TOKEN_EXPIRED_REASON && !reason.startsWith('authentication timeout');
}
