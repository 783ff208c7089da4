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

/**
 * What the services declare their queues as (AMQP_QUEUE_TYPE): CHAOS_QUEUE_TYPE=quorum runs every
 * fault against quorum queues, what a deployment on a RabbitMQ cluster uses (scripts/test.sh runs
 * the suite once each way). Anything else is refused, not ignored: a typo would test classic.
 */
export function chaosQueueType(env: Record<string, string | undefined> = process.env): 'classic' | 'quorum' {
  const value = env.CHAOS_QUEUE_TYPE ?? '';
  if (value === '' || value === 'classic') return 'classic';
  if (value === 'quorum') return 'quorum';
  throw new SuiteOptionsError(
    `CHAOS_QUEUE_TYPE: expected classic or quorum, got ${JSON.stringify(value.slice(0, 32))}`,
  );
}
