import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ackFrameBytes, MAX_NOTIFICATION_ID_LENGTH } from '../../shared/ack-frame.js';
import { MAX_NOTIFICATION_VERSION } from '../../shared/protocol/frames.js';
import {
  ConfigError,
  DEV_INTAKE_API_KEY,
  DEV_JWT_SECRET,
  loadConfig,
  parseKeyList,
  servicePort,
  type ServiceName,
} from '../../shared/config.js';

function problemsOf(env: Record<string, string>, service?: ServiceName): string[] {
  try {
    loadConfig(env, service);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('starts from documented defaults with no environment at all', () => {
    const config = loadConfig({});
    assert.equal(config.rabbitmq.url, 'amqp://guest:guest@127.0.0.1:5672');
    assert.equal(config.redis.url, 'redis://127.0.0.1:6379');
    assert.equal(config.mongo.url, 'mongodb://127.0.0.1:27017/notifications');
    assert.equal(config.auth.mode, 'token');
    assert.equal(config.auth.jwtSecret, DEV_JWT_SECRET);
    assert.equal(config.auth.jwtSecretIsDefault, true);
    assert.deepEqual(config.http.ports, { producer: 3000, consumer: 3001, 'ws-server': 8080, jobs: 3002 });
    assert.equal(config.persist.delayMs, 5000);
  });

  it('converts numbers and booleans from strings', () => {
    const config = loadConfig({ PERSIST_DELAY_MS: '1500', LOG_PRETTY: 'true', CONSUMER_PREFETCH: '10' });
    assert.equal(config.persist.delayMs, 1500);
    assert.equal(config.log.pretty, true);
    assert.equal(config.pipeline.consumerPrefetch, 10);
  });

  it('names the variable when a URL is malformed', () => {
    const problems = problemsOf({ RABBITMQ_URL: 'http://wrong-scheme:5672' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^RABBITMQ_URL: /);
  });

  it('takes a RabbitMQ cluster as comma-separated URLs, and a queue type', () => {
    const config = loadConfig({
      RABBITMQ_URL: 'amqp://u:p@10.0.0.1:5672, amqps://u:p@10.0.0.2/vhost,amqp://u:p@10.0.0.3:5672',
      AMQP_QUEUE_TYPE: 'quorum',
    });
    assert.deepEqual(config.rabbitmq.urls, [
      'amqp://u:p@10.0.0.1:5672',
      'amqps://u:p@10.0.0.2/vhost',
      'amqp://u:p@10.0.0.3:5672',
    ]);
    assert.equal(config.rabbitmq.url, 'amqp://u:p@10.0.0.1:5672');
    assert.equal(config.rabbitmq.queueType, 'quorum');
    assert.equal(loadConfig({}).rabbitmq.queueType, 'classic');
    assert.deepEqual(loadConfig({}).rabbitmq.urls, ['amqp://guest:guest@127.0.0.1:5672']);
  });

  it('names the bad URL of a list by position, never by its text (it may hold a password)', () => {
    const problems = problemsOf({
      RABBITMQ_URL: 'amqp://u:secret@a:5672,http://u:secret@b:5672',
      AMQP_QUEUE_TYPE: 'mirrored',
    });
    assert.equal(problems.length, 2);
    const url = problems.find((p) => p.startsWith('RABBITMQ_URL: '));
    assert.ok(url);
    assert.match(url, /URL 2 of 2/);
    assert.doesNotMatch(url, /secret/);
    assert.ok(problems.some((p) => p.startsWith('AMQP_QUEUE_TYPE: ')));
    assert.equal(problemsOf({ RABBITMQ_URL: ' , ' }).length, 1);
  });

  it('names every malformed variable at once, not only the first', () => {
    const problems = problemsOf({ WS_PORT: 'eighty', PERSIST_BATCH_SIZE: '-3', WS_AUTH_MODE: 'open' });
    const names = problems.map((p) => p.split(':')[0]).sort();
    assert.deepEqual(names, ['PERSIST_BATCH_SIZE', 'WS_AUTH_MODE', 'WS_PORT']);
  });

  it('requires JWT_SECRET in production where tokens are verified, and names it when missing', () => {
    const problems = problemsOf({ NODE_ENV: 'production' }, 'ws-server');
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^JWT_SECRET: .*required/);
    assert.match(problemsOf({ NODE_ENV: 'production' }, 'producer').join('\n'), /^JWT_SECRET: .*required/m);
    // The consumer and jobs verify no token: a secret there would be one more copy to leak.
    assert.equal(loadConfig({ NODE_ENV: 'production' }, 'consumer').nodeEnv, 'production');
    assert.equal(loadConfig({ NODE_ENV: 'production', SERVICE: 'jobs' }).nodeEnv, 'production');
  });

  it('refuses a weak JWT_SECRET', () => {
    const problems = problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'short' });
    assert.match(problems[0]!, /^JWT_SECRET: .*at least 32/);
  });

  it('accepts MONGO_URI as an alias of MONGO_URL and refuses two different values', () => {
    assert.equal(
      loadConfig({ MONGO_URI: 'mongodb://db.example:27017/app' }).mongo.url,
      'mongodb://db.example:27017/app',
    );
    const problems = problemsOf({ MONGO_URL: 'mongodb://a:27017/x', MONGO_URI: 'mongodb://b:27017/y' });
    assert.match(problems[0]!, /MONGO_URL \/ MONGO_URI/);
  });

  it('reads a Redis Cluster from REDIS_CLUSTER_NODES: host:port or redis[s]:// entries, one set of credentials', () => {
    assert.equal(loadConfig({}).redis.cluster, undefined, 'a single server by default');
    assert.deepEqual(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7001, 127.0.0.1:7002' }).redis.cluster, {
      nodes: [
        { host: '127.0.0.1', port: 7001 },
        { host: '127.0.0.1', port: 7002 },
      ],
      username: undefined,
      password: undefined,
      tls: false,
    });
    assert.deepEqual(
      loadConfig({ REDIS_CLUSTER_NODES: 'rediss://app:s%40cret@a.example:6380,rediss://app:s%40cret@b.example:6380' })
        .redis.cluster,
      {
        nodes: [
          { host: 'a.example', port: 6380 },
          { host: 'b.example', port: 6380 },
        ],
        username: 'app',
        password: 's@cret',
        tls: true,
      },
    );
  });

  it('refuses a malformed REDIS_CLUSTER_NODES by entry position without printing it, and REDIS_URL beside it', () => {
    const problems = problemsOf({ REDIS_CLUSTER_NODES: 'redis://u:hunter2@a:7001,b,redis://u:other@c:7003/2' });
    assert.ok(
      problems.some((p) => /entry 2 of 3 .*host and a port/.test(p)),
      problems.join('; '),
    );
    assert.ok(
      problems.some((p) => /entry 3 of 3 .*no database/.test(p)),
      problems.join('; '),
    );
    assert.ok(
      problems.every((p) => !p.includes('hunter2')),
      'no password in a message',
    );
    assert.match(problemsOf({ REDIS_CLUSTER_NODES: 'redis://u:a@x:1,redis://u:b@y:2' })[0]!, /disagree/);
    assert.match(
      problemsOf({ REDIS_CLUSTER_NODES: 'a:7001', REDIS_URL: 'redis://b:6379' })[0]!,
      /^REDIS_URL \/ REDIS_CLUSTER_NODES/,
    );
    // A brace in the prefix would choose every key's hash slot (shared/keys.ts).
    assert.deepEqual(
      problemsOf({ REDIS_CLUSTER_NODES: 'a:7001', REDIS_KEY_PREFIX: '{t}:' }).map((p) => p.split(':')[0]),
      ['REDIS_KEY_PREFIX'],
    );
    assert.equal(loadConfig({ REDIS_KEY_PREFIX: '{t}:' }).redis.keyPrefix, '{t}:', 'a single server has no slots');
  });

  it('gives every MongoDB operation a deadline below the shutdown bound', () => {
    assert.equal(loadConfig({}).mongo.queryTimeoutMs, 2000);
    assert.equal(loadConfig({}).mongo.batchTimeoutMs, 5000);
    assert.equal(loadConfig({ MONGO_QUERY_TIMEOUT_MS: '750' }).mongo.queryTimeoutMs, 750);
    const problems = problemsOf({ MONGO_QUERY_TIMEOUT_MS: '5000', SHUTDOWN_TIMEOUT_MS: '5000' }, 'consumer');
    assert.deepEqual(problems, ['MONGO_QUERY_TIMEOUT_MS: must be below SHUTDOWN_TIMEOUT_MS']);
  });

  it('keeps the persist sweep from sending jobs that still wait in their delay, and says when it can never act', () => {
    const early = 'PERSIST_SWEEP_AFTER_MS: must be above PERSIST_DELAY_MS (a job waits that long on purpose)';
    assert.deepEqual(problemsOf({ PERSIST_DELAY_MS: '600000' }, 'jobs'), [early]);
    assert.equal(
      loadConfig({ PERSIST_DELAY_MS: '600000', PERSIST_SWEEP_INTERVAL_MS: '0' }, 'jobs').persist.delayMs,
      600000,
    );
    assert.equal(loadConfig({ PERSIST_DELAY_MS: '600000' }, 'consumer').persist.delayMs, 600000, 'only jobs sweeps');
    const never = (env: Record<string, string>) =>
      loadConfig(env, 'jobs').warnings.some((w) =>
        w.startsWith('PERSIST_SWEEP_AFTER_MS is not below BUFFER_TTL_SECONDS'),
      );
    assert.equal(never({ BUFFER_TTL_SECONDS: '600' }), true);
    assert.equal(never({ BUFFER_TTL_SECONDS: '601' }), false);
    assert.equal(never({ BUFFER_TTL_SECONDS: '600', PERSIST_SWEEP_INTERVAL_MS: '0' }), false);
  });

  it("leaves the producer's shutdown room to answer a POST waiting for its confirm", () => {
    const tooShort = 'PUBLISH_CONFIRM_TIMEOUT_MS: must be at least 1000 ms below SHUTDOWN_TIMEOUT_MS on the producer';
    assert.deepEqual(problemsOf({ SHUTDOWN_TIMEOUT_MS: '6000' }, 'producer'), [tooShort]);
    assert.deepEqual(
      problemsOf({ PUBLISH_CONFIRM_TIMEOUT_MS: '9500' }),
      [tooShort],
      'no SERVICE counts as the producer',
    );
    assert.equal(loadConfig({ SHUTDOWN_TIMEOUT_MS: '6001' }, 'producer').shutdownTimeoutMs, 6001);
    // Only the producer answers a client that waits on a confirm.
    for (const service of ['consumer', 'ws-server', 'jobs'] as const)
      assert.equal(loadConfig({ SHUTDOWN_TIMEOUT_MS: '3000' }, service).shutdownTimeoutMs, 3000);
  });

  it('treats empty variables as unset', () => {
    const config = loadConfig({ RABBITMQ_URL: '', PORT: '' });
    assert.equal(config.rabbitmq.url, 'amqp://guest:guest@127.0.0.1:5672');
    assert.equal(config.http.portOverride, undefined);
  });

  it('lets PORT (Railway) override the port of whichever service runs', () => {
    assert.equal(servicePort(loadConfig({}), 'jobs'), 3002);
    assert.equal(servicePort(loadConfig({ PORT: '7777' }), 'jobs'), 7777);
    assert.equal(servicePort(loadConfig({ PORT: '7777' }), 'producer'), 7777);
  });

  it('rejects an unknown SERVICE', () => {
    assert.match(problemsOf({ SERVICE: 'mailer' })[0]!, /^SERVICE: /);
  });

  it('by default, the largest ACK the protocol allows (longest ids, highest versions) fits one frame', () => {
    const { ws } = loadConfig({});
    const largest = JSON.stringify({
      type: 'ACK',
      notificationIds: Array.from({ length: ws.maxAckBatch }, () => 'x'.repeat(MAX_NOTIFICATION_ID_LENGTH)),
      versions: Array.from({ length: ws.maxAckBatch }, () => MAX_NOTIFICATION_VERSION),
    });
    assert.equal(ackFrameBytes(ws.maxAckBatch), Buffer.byteLength(largest), 'the arithmetic matches the real frame');
    assert.ok(
      Buffer.byteLength(largest) <= ws.maxFrameBytes,
      `${Buffer.byteLength(largest)} bytes fit WS_MAX_FRAME_BYTES=${ws.maxFrameBytes}`,
    );
  });

  it('refuses a WS_MAX_ACK_BATCH whose largest ACK exceeds WS_MAX_FRAME_BYTES, naming both and the numbers', () => {
    const problems = problemsOf({ WS_MAX_ACK_BATCH: '500', WS_MAX_FRAME_BYTES: '16384' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /WS_MAX_ACK_BATCH/);
    assert.match(problems[0]!, /WS_MAX_FRAME_BYTES=16384/);
    assert.match(problems[0]!, new RegExp(`${ackFrameBytes(500)} bytes`));
    // The boundary is exact: a frame limit of precisely the largest ACK is enough, one byte less is not.
    assert.equal(
      loadConfig({ WS_MAX_ACK_BATCH: '10', WS_MAX_FRAME_BYTES: String(ackFrameBytes(10)) }).ws.maxAckBatch,
      10,
    );
    assert.equal(problemsOf({ WS_MAX_ACK_BATCH: '10', WS_MAX_FRAME_BYTES: String(ackFrameBytes(10) - 1) }).length, 1);
  });

  it('bounds connections by default: headers 10 s, a request 30 s, 5,000 HTTP and 25,000 ws-server connections, 600 requests a minute per address', () => {
    const { http, ws } = loadConfig({});
    assert.deepEqual(
      {
        headers: http.headersTimeoutMs,
        request: http.requestTimeoutMs,
        max: http.maxConnections,
        wsMax: ws.maxConnections,
        rate: http.rateLimit,
        hops: http.trustProxyHops,
      },
      { headers: 10_000, request: 30_000, max: 5000, wsMax: 25_000, rate: { perMinute: 600 }, hops: 0 },
    );
  });

  it('refuses a headers timeout longer than the request timeout, naming both', () => {
    const problems = problemsOf({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /HTTP_HEADERS_TIMEOUT_MS \/ HTTP_REQUEST_TIMEOUT_MS/);
  });
});

describe('production refuses unsafe settings, naming the variable', () => {
  const STRONG_KEY = 'k'.repeat(43);
  /** Everything production needs, so each test changes exactly one thing. */
  const safe = { NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(32), INTAKE_API_KEYS: STRONG_KEY };

  it('starts with a strong secret, an intake key, token mode and listed origins', () => {
    const config = loadConfig({ ...safe, CORS_ORIGINS: 'https://app.example' });
    assert.deepEqual(config.intake.apiKeys, [STRONG_KEY]);
    assert.equal(config.auth.mode, 'token');
  });

  it('refuses a MONGO_URL that names no database (the driver would use "test")', () => {
    const none = /^MONGO_URL: name the database in the path/;
    for (const url of [
      'mongodb://mongo:pw@db.internal:27017',
      'mongodb+srv://u:p@c.example.net/?retryWrites=true',
      'mongodb://h1:27017?tls=true&tlsCAFile=/etc/ssl/ca.pem',
    ])
      assert.match(problemsOf({ ...safe, MONGO_URL: url })[0]!, none, url);
    for (const url of ['mongodb+srv://u:p@c.example.net/notifications?retryWrites=true', 'mongodb://a:1,b:2/app'])
      assert.equal(loadConfig({ ...safe, MONGO_URL: url }).mongo.url, url);
    // Outside production a tool may point at a server only (scripts/store-costs.ts names its own database).
    assert.equal(loadConfig({ MONGO_URL: 'mongodb://127.0.0.1:27017' }).mongo.url, 'mongodb://127.0.0.1:27017');
  });

  it('refuses a producer without INTAKE_API_KEYS', () => {
    const { INTAKE_API_KEYS: _omitted, ...rest } = safe;
    const problems = problemsOf(rest);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^INTAKE_API_KEYS: required in production/);
    assert.match(problemsOf({ ...rest, SERVICE: 'producer' })[0]!, /^INTAKE_API_KEYS: /);
    assert.match(problemsOf({ ...rest, INTAKE_API_KEYS: ' , ' })[0]!, /^INTAKE_API_KEYS: is set but holds no key/);
  });

  it('does not ask the services that take no events for a key (it never needs to reach them)', () => {
    const { INTAKE_API_KEYS: _omitted, ...rest } = safe;
    for (const service of ['consumer', 'ws-server', 'jobs'] as const) {
      assert.deepEqual(loadConfig(rest, service).intake.apiKeys, []);
      assert.deepEqual(loadConfig({ ...rest, SERVICE: service }).intake.apiKeys, []);
    }
  });

  it('refuses a short key or the public development key, naming its position but never printing it', () => {
    const short = 'Sh0rt-but-secret-k3y';
    const problems = problemsOf({ ...safe, INTAKE_API_KEYS: `${STRONG_KEY},${short}` });
    assert.deepEqual(problems, ['INTAKE_API_KEYS: key 2 of 2 is shorter than 32 characters']);
    const dev = problemsOf({ ...safe, INTAKE_API_KEYS: DEV_INTAKE_API_KEY });
    assert.match(dev[0]!, /^INTAKE_API_KEYS: key 1 of 1 is the built-in development key/);
    const bad = problemsOf({ ...safe, INTAKE_API_KEYS: `${STRONG_KEY}\u00e9` });
    assert.match(bad[0]!, /^INTAKE_API_KEYS: key 1 of 1 has characters other than printable ASCII/);
    for (const p of [...problems, ...dev, ...bad]) {
      assert.ok(
        !p.includes(short) && !p.includes(DEV_INTAKE_API_KEY) && !p.includes(STRONG_KEY),
        `a problem repeats a key: ${p}`,
      );
    }
  });

  it('outside production a key of any length is enforced, and none leaves intake open', () => {
    assert.deepEqual(loadConfig({ INTAKE_API_KEYS: 'short' }).intake.apiKeys, ['short']);
    assert.deepEqual(loadConfig({ INTAKE_API_KEYS: DEV_INTAKE_API_KEY }).intake.apiKeys, [DEV_INTAKE_API_KEY]);
    assert.deepEqual(loadConfig({}).intake.apiKeys, []);
    assert.match(problemsOf({ INTAKE_API_KEYS: 'has space,ok' })[0]!, /^INTAKE_API_KEYS: key 1 of 2 has characters/);
  });

  it('parses the list for rotation: comma-separated, blanks trimmed, empty entries dropped, order kept', () => {
    assert.deepEqual(parseKeyList(' new-key , old-key ,'), ['new-key', 'old-key']);
    assert.deepEqual(parseKeyList(',,'), []);
    assert.deepEqual(parseKeyList(undefined), []);
    assert.deepEqual(loadConfig({ ...safe, INTAKE_API_KEYS: `${'a'.repeat(32)},${'b'.repeat(32)}` }).intake.apiKeys, [
      'a'.repeat(32),
      'b'.repeat(32),
    ]);
  });

  it('refuses WS_AUTH_MODE=dev', () => {
    assert.deepEqual(
      problemsOf({ ...safe, WS_AUTH_MODE: 'dev' }).map((p) => p.split(':')[0]),
      ['WS_AUTH_MODE'],
    );
    assert.equal(loadConfig({ NODE_ENV: 'development', WS_AUTH_MODE: 'dev' }).auth.mode, 'dev');
  });

  it('refuses CORS_ORIGINS=*, alone or in a list', () => {
    assert.deepEqual(
      problemsOf({ ...safe, CORS_ORIGINS: '*' }).map((p) => p.split(':')[0]),
      ['CORS_ORIGINS'],
    );
    assert.deepEqual(
      problemsOf({ ...safe, CORS_ORIGINS: 'https://app.example, *' }).map((p) => p.split(':')[0]),
      ['CORS_ORIGINS'],
    );
    assert.deepEqual(loadConfig({ CORS_ORIGINS: '*' }).http.cors.origins, ['*'], 'allowed outside production');
  });

  it('names every unsafe setting at once', () => {
    const names = problemsOf({
      ...safe,
      WS_AUTH_MODE: 'dev',
      CORS_ORIGINS: '*',
      INTAKE_API_KEYS: 'short',
      JWT_SECRET: DEV_JWT_SECRET,
    })
      .map((p) => p.split(':')[0])
      .sort();
    assert.deepEqual(names, ['CORS_ORIGINS', 'INTAKE_API_KEYS', 'JWT_SECRET', 'WS_AUTH_MODE']);
  });
});
