import { Counter, Gauge, Histogram, type Registry } from '../shared/metrics.js';

export type Outcome =
  | 'buffered'
  | 'duplicate'
  | 'limited'
  | 'self'
  | 'dead_lettered'
  | 'retried'
  | 'suppressed'
  | 'fanned_out'
  | 'graph_updated';
export type LimitScope = 'actor' | 'recipient';

export interface ConsumerMetrics {
  processed: Counter<'outcome'>;
  limited: Counter<'scope'>;
  suppressed: Counter<'reason'>;
  bufferSeconds: Histogram;
  storeFallbacks: Counter<'read'>;
  preferenceLookups: Counter<'outcome'>;
  redisGateClosed: Gauge;
  redisGateHolds: Counter<'ended'>;
}

export function createConsumerMetrics(registry: Registry): ConsumerMetrics {
  return {
    processed: new Counter({
      name: 'consumer_events_processed_total',
      help: 'Events handled, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    limited: new Counter({
      name: 'consumer_events_limited_total',
      help: 'Events dropped by a rate limit (a product decision), by the limit that applied',
      labelNames: ['scope'],
      registers: [registry],
    }),
    preferenceLookups: new Counter({
      name: 'consumer_preference_lookups_total',
      help: "Recipients' preferences the decide step looked up: hit = from the consumer's memory, miss = read from Redis",
      labelNames: ['outcome'],
      registers: [registry],
    }),
    storeFallbacks: new Counter({
      name: 'consumer_store_fallbacks_total',
      help: 'Reads that went on without MongoDB (Redis had no copy and MongoDB did not answer within MONGO_FALLBACK_WAIT_MS), by what: preferences (defaults applied), name (the id shown)',
      labelNames: ['read'],
      registers: [registry],
    }),
    suppressed: new Counter({
      name: 'consumer_events_suppressed_total',
      help: "Events not notified because of the recipient's preferences, by reason (muted, promotional_opt_out)",
      labelNames: ['reason'],
      registers: [registry],
    }),
    redisGateClosed: new Gauge({
      name: 'consumer_redis_gate_closed',
      help: 'Whether the Redis gate is closed (consumer/redis-gate.ts): 1 while a batch failed because Redis is down and what arrives is held',
      registers: [registry],
    }),
    redisGateHolds: new Counter({
      name: 'consumer_redis_gate_holds_total',
      help: 'Holds of the next batch while Redis was down, by how each ended: answered (Redis took a probe write), expired (CONSUMER_REDIS_OUTAGE_HOLD_MS ran out), released (shutdown)',
      labelNames: ['ended'],
      registers: [registry],
    }),
    bufferSeconds: new Histogram({
      name: 'consumer_buffer_latency_seconds',
      help: 'Time from the producer accepting an event to its notification being buffered',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}
