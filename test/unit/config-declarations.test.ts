import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failurePolicies } from '../../shared/amqp/failure-policy.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { ConfigError, loadConfig, type Config } from '../../shared/config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

/** Every leaf path of a config, so a renamed or lost field fails here rather than in a service. */
function paths(value: object, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, child]) =>
    child !== null && typeof child === 'object' && !Array.isArray(child) && key !== 'key'
      ? paths(child as object, `${prefix}${key}.`)
      : [`${prefix}${key}`],
  );
}

// Compile-time: the type inferred from the declarations is the one services were written against.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const typeChecks: [
  Equal<Config['http']['ports'], { producer: number; consumer: number; 'ws-server': number; jobs: number }>,
  Equal<Config['service'], 'producer' | 'consumer' | 'ws-server' | 'jobs' | undefined>,
  Equal<Config['http']['portOverride'], number | undefined>,
  Equal<Config['http']['cors'], { origins: string[]; allowLocalhost: boolean }>,
  Equal<Config['demo']['producerUrl'], string | undefined>,
  Equal<Config['auth']['mode'], 'token' | 'dev'>,
  Equal<Config['auth']['jwtSecret'], string>,
  Equal<Config['intake']['apiKeys'], string[]>,
  Equal<Config['log']['pretty'], boolean>,
  Equal<Config['mongo']['url'], string>,
  Equal<Config['pipeline']['retriesBeforeDeadLetter'], number>,
] = [true, true, true, true, true, true, true, true, true, true, true];
void typeChecks;

describe('config declared once', () => {
  it('keeps the shape services use, field for field', () => {
    assert.deepEqual(paths(loadConfig({})), [
      'nodeEnv',
      'service',
      'log.level',
      'log.pretty',
      'log.accessSampleRatio',
      'http.host',
      'http.portOverride',
      'http.ports.producer',
      'http.ports.consumer',
      'http.ports.ws-server',
      'http.ports.jobs',
      'http.maxBodyBytes',
      'http.batchMaxBodyBytes',
      'http.retryAfterSeconds',
      'http.headersTimeoutMs',
      'http.requestTimeoutMs',
      'http.maxConnections',
      'http.rateLimit.perMinute',
      'http.trustProxyHops',
      'http.cors.origins',
      'http.cors.allowLocalhost',
      'demo.producerUrl',
      'rabbitmq.urls',
      'rabbitmq.queueType',
      'rabbitmq.namePrefix',
      'rabbitmq.heartbeatSeconds',
      'rabbitmq.publishConfirmTimeoutMs',
      'rabbitmq.url',
      'redis.url',
      'redis.keyPrefix',
      'redis.commandTimeoutMs',
      'redis.pingIntervalMs',
      'redis.cluster',
      'mongo.url',
      'mongo.fallbackWaitMs',
      'mongo.queryTimeoutMs',
      'mongo.batchTimeoutMs',
      'mongo.maxPoolSize',
      'connectTimeoutMs',
      'shutdownTimeoutMs',
      'auth.mode',
      'auth.jwtSecret',
      'auth.jwtSecretIsDefault',
      'auth.token.key',
      'auth.token.algorithms',
      'auth.token.issuer',
      'auth.token.audience',
      'auth.token.maxLifetimeSeconds',
      'auth.token.clockToleranceSeconds',
      'intake.apiKeys',
      'pipeline.consumerPrefetch',
      'pipeline.consumerBatchMax',
      'pipeline.consumerRedisOutageHoldMs',
      'pipeline.eventDedupeWindowSeconds',
      'pipeline.actionDedupeWindowMs',
      'pipeline.rateLimitActorPerMinute',
      'pipeline.rateLimitRecipientPerMinute',
      'pipeline.bufferTtlSeconds',
      'pipeline.retryBaseDelayMs',
      'pipeline.retriesBeforeDeadLetter',
      'pipeline.aggregationWindowMs',
      'pipeline.batchMaxEvents',
      'pipeline.userNameCacheTtlMs',
      'pipeline.preferencesCacheTtlSeconds',
      'pipeline.consumerPreferencesCacheMs',
      'fanout.chunkSize',
      'fanout.prefetch',
      'persist.handOffLingerMs',
      'persist.handOffMaxNotifications',
      'persist.delayMs',
      'persist.sweepIntervalMs',
      'persist.sweepAfterMs',
      'persist.batchSize',
      'persist.flushMs',
      'persist.prefetch',
      'persist.maxStoredPerUser',
      'persist.bulkMaxOps',
      'persist.retryLadderRungs',
      'ws.authTimeoutMs',
      'ws.ackTimeoutMs',
      'ws.maxRedeliveries',
      'ws.heartbeatIntervalMs',
      'ws.replayLimit',
      'ws.maxFrameBytes',
      'ws.maxFramesPerSecond',
      'ws.maxSocketsPerUser',
      'ws.maxBufferedBytes',
      'ws.maxAckBatch',
      'ws.listenBacklogConnections',
      'ws.maxConnections',
      'ws.routeTtlMs',
      'ws.routeRefreshMs',
      'warnings',
    ]);
  });

  it('builds the values made of several variables', () => {
    const dev = loadConfig({
      DEMO_PRODUCER_URL: 'https://api.example//',
      CORS_ORIGINS: ' https://a.example , https://b.example,',
    });
    assert.equal(dev.demo.producerUrl, 'https://api.example');
    assert.deepEqual(dev.http.cors, { origins: ['https://a.example', 'https://b.example'], allowLocalhost: false });
    assert.deepEqual(loadConfig({}).http.cors, { origins: [], allowLocalhost: true });
    assert.deepEqual(loadConfig({ NODE_ENV: 'production' }, 'consumer').http.cors, {
      origins: [],
      allowLocalhost: false,
    });
    const secret = 's'.repeat(32);
    const token = loadConfig({
      JWT_SECRET: secret,
      JWT_ISSUER: 'https://auth.example',
      JWT_MAX_LIFETIME_SECONDS: '600',
    });
    assert.equal(token.auth.jwtSecret, secret);
    assert.equal(token.auth.jwtSecretIsDefault, false);
    assert.deepEqual(token.auth.token, {
      key: { kind: 'secret' },
      algorithms: ['HS256'],
      issuer: 'https://auth.example',
      audience: undefined,
      maxLifetimeSeconds: 600,
      clockToleranceSeconds: 30,
    });
  });

  it("refuses a malformed value with the variable's name and Joi's reason, never the value", () => {
    const problems = problemsOf({
      CONSUMER_PREFETCH: '0',
      LOG_LEVEL: 'loud',
      DEMO_PRODUCER_URL: 'ftp://x',
      JWT_SECRET: 'hunter2',
    });
    assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), [
      'CONSUMER_PREFETCH',
      'DEMO_PRODUCER_URL',
      'JWT_SECRET',
      'LOG_LEVEL',
    ]);
    assert.ok(!problems.join('\n').includes('hunter2'), 'a rejected secret is not repeated');
    assert.match(
      problems.find((p) => p.startsWith('CONSUMER_PREFETCH'))!,
      /"CONSUMER_PREFETCH" must be greater than or equal to 1/,
    );
  });
});

describe('RETRY_MAX_ATTEMPTS split in two', () => {
  it('the consumer dead-letters after CONSUMER_RETRIES_BEFORE_DEAD_LETTER; jobs keeps a ladder of JOBS_RETRY_LADDER_RUNGS', () => {
    const config = loadConfig({
      CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '2',
      JOBS_RETRY_LADDER_RUNGS: '4',
      RETRY_BASE_DELAY_MS: '100',
    });
    assert.equal(config.pipeline.retriesBeforeDeadLetter, 2);
    assert.equal(config.persist.retryLadderRungs, 4);
    assert.deepEqual(config.warnings, []);
    const t = createTopology(config);
    assert.deepEqual(t.eventsRetryQueues.social, ['notify.events.retry.100ms', 'notify.events.retry.200ms']);
    assert.deepEqual(t.fanoutRetryQueues, ['notify.fanout.retry.100ms', 'notify.fanout.retry.200ms']);
    assert.deepEqual(t.persistRetryQueues, [
      'notify.persist.retry.100ms',
      'notify.persist.retry.200ms',
      'notify.persist.retry.400ms',
      'notify.persist.retry.800ms',
    ]);
    assert.deepEqual(
      t.acksRetryQueues,
      t.persistRetryQueues.map((q) => q.replace('persist', 'acks')),
    );
    const policies = failurePolicies(t);
    assert.equal(policies.events.social.whenExhausted, 'dead-letter');
    assert.equal(policies.persist.whenExhausted, 'keep-retrying');
  });

  it('the consumer may dead-letter at once; jobs needs a rung to wait on', () => {
    assert.deepEqual(
      createTopology(loadConfig({ CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '0' })).eventsRetryQueues.social,
      [],
    );
    assert.match(
      problemsOf({ JOBS_RETRY_LADDER_RUNGS: '0' })[0]!,
      /^JOBS_RETRY_LADDER_RUNGS: .*greater than or equal to 1/,
    );
  });

  it('still reads the old name as both, with one warning naming the new ones', () => {
    const config = loadConfig({ RETRY_MAX_ATTEMPTS: '3' });
    assert.equal(config.pipeline.retriesBeforeDeadLetter, 3);
    assert.equal(config.persist.retryLadderRungs, 3);
    assert.equal(config.warnings.length, 1);
    assert.match(
      config.warnings[0]!,
      /^RETRY_MAX_ATTEMPTS is deprecated: it is read as CONSUMER_RETRIES_BEFORE_DEAD_LETTER and JOBS_RETRY_LADDER_RUNGS/,
    );
  });

  it('lets the new names win only when they agree with the old one', () => {
    const agreeing = loadConfig({ RETRY_MAX_ATTEMPTS: '3', CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '3' });
    assert.equal(agreeing.pipeline.retriesBeforeDeadLetter, 3);
    assert.equal(agreeing.persist.retryLadderRungs, 3);
    assert.deepEqual(problemsOf({ RETRY_MAX_ATTEMPTS: '3', JOBS_RETRY_LADDER_RUNGS: '8' }), [
      'JOBS_RETRY_LADDER_RUNGS / RETRY_MAX_ATTEMPTS: both are set and differ; set only one',
    ]);
  });

  it('refuses RETRY_MAX_ATTEMPTS=0 by its own name, since jobs would have no rung', () => {
    assert.match(
      problemsOf({ RETRY_MAX_ATTEMPTS: '0' })[0]!,
      /^RETRY_MAX_ATTEMPTS: "RETRY_MAX_ATTEMPTS" must be greater than or equal to 1/,
    );
  });

  it('MONGO_URI stays an alias without a warning', () => {
    const config = loadConfig({ MONGO_URI: 'mongodb://db.example:27017/app' });
    assert.equal(config.mongo.url, 'mongodb://db.example:27017/app');
    assert.deepEqual(config.warnings, []);
  });
});
