import { Counter, type Registry } from '../shared/metrics.js';

export interface FanoutMetrics {
  /** Pages handled: done, duplicate (a copy of a finished page), retried, dead_lettered. */
  pages: Counter<'outcome'>;
  /** Per-recipient outcomes of fanned-out events (buffered, duplicate, limited, ...). */
  recipients: Counter<'outcome'>;
}

export function createFanoutMetrics(registry: Registry): FanoutMetrics {
  return {
    pages: new Counter({
      name: 'consumer_fanout_pages_total',
      help: 'Follower fan-out pages handled, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    recipients: new Counter({
      name: 'consumer_fanout_recipients_total',
      help: 'Followers run through the per-recipient path by a fan-out, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
