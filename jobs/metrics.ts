import { Counter, Histogram, type Registry } from '../shared/metrics.js';

export type JobsMetrics = ReturnType<typeof createJobsMetrics>;

export function createJobsMetrics(registry: Registry) {
  return {
    bulkWrites: new Counter({
      name: 'jobs_mongo_bulk_writes_total',
      help: 'MongoDB write commands that succeeded (a batch insert, a bulk of state updates), by queue (persist or acks)',
      labelNames: ['queue'] as const,
      registers: [registry],
    }),
    persisted: new Counter({
      name: 'jobs_notifications_persisted_total',
      help: 'Notifications inserted into MongoDB for the first time',
      registers: [registry],
    }),
    acksApplied: new Counter({
      name: 'jobs_acks_applied_total',
      help: 'Stored notifications moved to delivered by an ack message',
      registers: [registry],
    }),
    acksLeftToPersist: new Counter({
      name: 'jobs_acks_left_to_persist_total',
      help: 'Acks of notifications not stored yet, carried by their persist job instead of a write',
      registers: [registry],
    }),
    swept: new Counter({
      name: 'jobs_persist_swept_total',
      help: 'Unpersisted marks the persist sweep found past PERSIST_SWEEP_AFTER_MS: handed_over (sent to the persist queue again), expired (no buffered copy left to store) or invalid (a buffered copy jobs cannot store; the mark is deleted)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    capRemoved: new Counter({
      name: 'jobs_cap_removed_total',
      help: 'Read notifications removed by the per-user cap',
      registers: [registry],
    }),
    capChecks: new Counter({
      name: 'jobs_cap_checks_total',
      help: 'Users whose stored count was queried because their Redis counter exceeded the cap',
      registers: [registry],
    }),
    retried: new Counter({
      name: 'jobs_messages_retried_total',
      help: 'Messages sent to a retry queue after a failed batch',
      labelNames: ['queue'] as const,
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'jobs_messages_dead_lettered_total',
      help: 'Messages that can never be written, sent to the dead-letter queue',
      labelNames: ['queue'] as const,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'jobs_batch_size',
      help: 'Notifications (persist) or acks (acks) per flushed batch',
      labelNames: ['queue'] as const,
      buckets: [1, 5, 10, 25, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
  };
}
