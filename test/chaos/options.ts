import { parseSuiteOptions, pickScenarios, SuiteOptionsError, type SuiteOptions } from '../helpers/faults/options.js';

/**
 * The chaos suite's knobs (test/helpers/faults/options.ts reads and checks them):
 *
 *   CHAOS_EVENTS=3600 CHAOS_RATE=240 CHAOS_SCENARIOS=2,5 npm run test:chaos
 */
export type ChaosOptions = SuiteOptions;

export const CHAOS_DEFAULTS: ChaosOptions = { eventsPerScenario: 3600, eventsPerSecond: 240, scenarios: [] };

export { SuiteOptionsError as ChaosOptionsError, pickScenarios };

export const parseChaosOptions = (env: Record<string, string | undefined>): ChaosOptions =>
  parseSuiteOptions('CHAOS', env, CHAOS_DEFAULTS);

/** The suite's options, from its environment. */
export const chaosOptions = (): ChaosOptions => parseChaosOptions(process.env);
