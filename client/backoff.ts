import type { ReconnectOptions } from './types.js';

export const DEFAULT_INITIAL_DELAY_MS = 500;
export const DEFAULT_MAX_DELAY_MS = 30_000;

/**
 * Exponential backoff with full jitter: the wait before reconnect attempt `attempt` (0 for the
 * first) is uniform in [0, min(max, initial·2^attempt)]. Full jitter rather than ±50 %: after a
 * server restart every client reconnects at once, and spreading them over the whole window is
 * what keeps the new instance from taking them all in the same second.
 */
export function backoffDelayMs(
  attempt: number,
  options: ReconnectOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
  const max = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  // 2^attempt overflows to Infinity long after min() has capped it; clamp the exponent anyway.
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 52));
  return Math.floor(random() * ceiling);
}

/** The widest spread of a reconnect "at once" (see nowDelayMs). */
export const NOW_SPREAD_MS = 1000;

/**
 * The wait before a reconnect the close code says to make at once (1001 from an instance shutting
 * down, an expired token): uniform in [0, min(initialDelayMs, NOW_SPREAD_MS)]. Not zero: an
 * instance closes its sockets hundreds per event-loop turn, and without a spread all its clients
 * would land on the remaining instances within the same few milliseconds.
 */
export function nowDelayMs(options: ReconnectOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
  return Math.floor(random() * Math.min(initial, NOW_SPREAD_MS));
}

/**
 * The wait before acks the server shed (ERROR UNAVAILABLE) are sent again, after `attempt` such
 * answers in a row (0 for the first): uniform in [c/2, c) with c = min(max, 2·base·2^attempt), so
 * it starts at the ack delay and doubles up to the cap. Unlike a reconnect ("full jitter" above)
 * the lower half is kept: the server sheds load, and a draw near 0 would retry at once however
 * many times it already said no; the upper half still spreads the clients it shed together.
 */
export function ackRetryDelayMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.max(baseMs, Math.min(maxMs, 2 * baseMs * 2 ** Math.min(attempt, 52)));
  return Math.floor(ceiling / 2 + random() * (ceiling / 2));
}
