/**
 * The knobs of a fault-injection suite (test/chaos, test/cluster), read from the environment by
 * the suite and nowhere else: node's test runner runs each file in a child process and passes it
 * no arguments, so `npm run test:chaos` cannot take flags. Each is validated once, when the suite
 * loads, and a bad value stops the run with a message naming the variable instead of running
 * with NaN. Every suite has its own prefix (CHAOS_, CLUSTER_) and defaults:
 *
 *   CHAOS_EVENTS=3600 CHAOS_RATE=240 CHAOS_SCENARIOS=2,5 npm run test:chaos
 *   CLUSTER_SCENARIOS=1 npm run test:cluster
 */
export interface SuiteOptions {
  /** <PREFIX>_EVENTS: events each scenario sends. */
  eventsPerScenario: number;
  /** <PREFIX>_RATE: events per second. */
  eventsPerSecond: number;
  /** <PREFIX>_SCENARIOS: the scenarios to run, 1-based (default: all). */
  scenarios: number[];
}

export class SuiteOptionsError extends Error {
  override name = 'SuiteOptionsError';
}

function wholePositive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new SuiteOptionsError(`${name} must be a whole number of at least 1, got "${raw}"`);
  return value;
}

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new SuiteOptionsError(`${name} must be a number above 0, got "${raw}"`);
  return value;
}

/** The options `<prefix>_EVENTS`, `<prefix>_RATE` and `<prefix>_SCENARIOS` give, `defaults` for the unset ones. */
export function parseSuiteOptions(
  prefix: string,
  env: Record<string, string | undefined>,
  defaults: SuiteOptions,
): SuiteOptions {
  const name = (knob: string) => `${prefix}_${knob}`;
  const list = env[name('SCENARIOS')]?.trim() ?? '';
  const scenarios =
    list === ''
      ? defaults.scenarios
      : list.split(',').map((part) => {
          const value = Number(part.trim());
          if (part.trim() === '' || !Number.isInteger(value) || value < 1) {
            throw new SuiteOptionsError(
              `${name('SCENARIOS')} must be scenario numbers from 1, comma-separated, got "${list}"`,
            );
          }
          return value;
        });
  return {
    eventsPerScenario: wholePositive(name('EVENTS'), env[name('EVENTS')], defaults.eventsPerScenario),
    eventsPerSecond: positive(name('RATE'), env[name('RATE')], defaults.eventsPerSecond),
    scenarios,
  };
}

/** The scenarios `wanted` picks, with their 0-based index; one it does not have is an error. */
export function pickScenarios<T>(all: T[], wanted: number[], variable = 'CHAOS_SCENARIOS'): Array<[number, T]> {
  const missing = wanted.filter((n) => n > all.length);
  if (missing.length > 0)
    throw new SuiteOptionsError(`${variable}: there are ${all.length} scenarios, no ${missing.join(', ')}`);
  return [...all.entries()].filter(([i]) => wanted.length === 0 || wanted.includes(i + 1));
}

/**
 * The services' settings every fault suite runs with (test/chaos, test/cluster): the documented
 * rules that legitimately drop events are out of the way (the suites are about faults), every
 * delay is short so a scenario settles in seconds, and a dependency that is down is noticed fast.
 */
export const FAULT_SUITE_SETTINGS = {
  WS_AUTH_MODE: 'token',
  RATE_LIMIT_ACTOR_PER_MINUTE: '1000000',
  RATE_LIMIT_RECIPIENT_PER_MINUTE: '1000000',
  // Every client of a suite is 127.0.0.1: the per-address HTTP limit would count them as one.
  HTTP_RATE_LIMIT_PER_MINUTE: '1000000',
  PERSIST_DELAY_MS: '1000',
  PERSIST_FLUSH_MS: '100',
  // The persist sweep (jobs/persist-sweep.ts) within the suites' settle wait: a persist job lost
  // to a fault is stored from the buffer 20 s later, and the row's `swept` says so.
  PERSIST_SWEEP_INTERVAL_MS: '3000',
  PERSIST_SWEEP_AFTER_MS: '20000',
  RETRY_BASE_DELAY_MS: '500',
  ACK_TIMEOUT_MS: '3000',
  AMQP_HEARTBEAT_SECONDS: '2',
  PUBLISH_CONFIRM_TIMEOUT_MS: '3000',
  RETRY_AFTER_SECONDS: '1',
  CONNECT_TIMEOUT_MS: '15000',
} as const;
