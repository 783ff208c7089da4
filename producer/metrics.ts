import { Counter, Histogram, type Registry } from '../shared/metrics.js';

export interface ProducerMetrics {
  accepted: Counter<'type'>;
  rejected: Counter<'reason'>;
  publishSeconds: Histogram;
  rateLimitUnchecked: Counter;
  idempotencyUnchecked: Counter;
  fastPath: Counter;
}

export function createProducerMetrics(registry: Registry): ProducerMetrics {
  return {
    accepted: new Counter({
      name: 'producer_events_accepted_total',
      help: 'Events confirmed by the broker and answered 202',
      labelNames: ['type'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'producer_events_rejected_total',
      help: 'Events refused, by reason (validation_failed, broker_unavailable, ...)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    publishSeconds: new Histogram({
      name: 'producer_publish_confirm_seconds',
      help: 'Time from publish to broker confirm',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    rateLimitUnchecked: new Counter({
      name: 'producer_rate_limit_unchecked_total',
      help: 'Requests let through without a per-client rate-limit check: Redis did not answer (the limiter fails open)',
      registers: [registry],
    }),
    idempotencyUnchecked: new Counter({
      name: 'producer_idempotency_unchecked_total',
      help: 'Events with a client-chosen eventId (Idempotency-Key, body eventId) accepted without checking it against an earlier, different event: Redis did not answer (the check fails open)',
      registers: [registry],
    }),
    fastPath: new Counter({
      name: 'producer_intake_fast_path_total',
      help: 'POST /events requests answered by the intake fast path (producer/intake-fast-path.ts), not by Express',
      registers: [registry],
    }),
  };
}
