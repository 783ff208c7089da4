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
