/**
 * The chaos suite's knobs, read from the environment here and nowhere else: node's test runner
 * runs each file in a child process and passes it no arguments, so `npm run test:chaos` cannot
 * take flags. Each is validated once, when the suite loads, and a bad value stops the run with a
 * message naming the variable instead of running with NaN.
 *
 *   CHAOS_EVENTS=3600 CHAOS_RATE=240 CHAOS_SCENARIOS=2,5 npm run test:chaos
 */
export interface ChaosOptions {
  /** CHAOS_EVENTS: events each scenario sends (default 3,600). */
  eventsPerScenario: number;
  /** CHAOS_RATE: events per second (default 240). */
  eventsPerSecond: number;
  /** CHAOS_SCENARIOS: the scenarios to run, 1-based (default: all). */
  scenarios: number[];
}

export const CHAOS_DEFAULTS: ChaosOptions = { eventsPerScenario: 3600, eventsPerSecond: 240, scenarios: [] };

export class ChaosOptionsError extends Error {
  override name = 'ChaosOptionsError';
}

function wholePositive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new ChaosOptionsError(`${name} must be a whole number of at least 1, got "${raw}"`);
  return value;
}

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ChaosOptionsError(`${name} must be a number above 0, got "${raw}"`);
  return value;
}

export function parseChaosOptions(env: Record<string, string | undefined>): ChaosOptions {
  const list = env.CHAOS_SCENARIOS?.trim() ?? '';
  const scenarios = list === '' ? [] : list.split(',').map((part) => {
    const value = Number(part.trim());
    if (part.trim() === '' || !Number.isInteger(value) || value < 1) {
      throw new ChaosOptionsError(`CHAOS_SCENARIOS must be scenario numbers from 1, comma-separated, got "${list}"`);
    }
    return value;
  });
  return {
    eventsPerScenario: wholePositive('CHAOS_EVENTS', env.CHAOS_EVENTS, CHAOS_DEFAULTS.eventsPerScenario),
    eventsPerSecond: positive('CHAOS_RATE', env.CHAOS_RATE, CHAOS_DEFAULTS.eventsPerSecond),
    scenarios,
  };
}

/** The scenarios CHAOS_SCENARIOS picks, with their 0-based index; one it does not have is an error. */
export function pickScenarios<T>(all: T[], wanted: number[]): Array<[number, T]> {
  const missing = wanted.filter((n) => n > all.length);
  if (missing.length > 0) throw new ChaosOptionsError(`CHAOS_SCENARIOS: there are ${all.length} scenarios, no ${missing.join(', ')}`);
  return [...all.entries()].filter(([i]) => wanted.length === 0 || wanted.includes(i + 1));
}

/** The suite's options, from its environment. */
export const chaosOptions = (): ChaosOptions => parseChaosOptions(process.env);
