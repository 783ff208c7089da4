import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ackFrameBytes, MAX_NOTIFICATION_ID_LENGTH } from '../../shared/ack-frame.js';
import { ConfigError, DEV_JWT_SECRET, loadConfig, servicePort } from '../../shared/config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
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

  it('names every malformed variable at once, not only the first', () => {
    const problems = problemsOf({ WS_PORT: 'eighty', PERSIST_BATCH_SIZE: '-3', WS_AUTH_MODE: 'open' });
    const names = problems.map((p) => p.split(':')[0]).sort();
    assert.deepEqual(names, ['PERSIST_BATCH_SIZE', 'WS_AUTH_MODE', 'WS_PORT']);
  });

  it('requires JWT_SECRET in production and names it when missing', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^JWT_SECRET: .*required/);
  });

  it('refuses a weak JWT_SECRET', () => {
    const problems = problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'short' });
    assert.match(problems[0]!, /^JWT_SECRET: .*at least 32/);
  });

  it('accepts MONGO_URI as an alias of MONGO_URL and refuses two different values', () => {
    assert.equal(loadConfig({ MONGO_URI: 'mongodb://db.example:27017/app' }).mongo.url, 'mongodb://db.example:27017/app');
    const problems = problemsOf({ MONGO_URL: 'mongodb://a:27017/x', MONGO_URI: 'mongodb://b:27017/y' });
    assert.match(problems[0]!, /MONGO_URL \/ MONGO_URI/);
  });

  it('gives every MongoDB operation a deadline below the shutdown bound', () => {
    assert.equal(loadConfig({}).mongo.queryTimeoutMs, 2000);
    assert.equal(loadConfig({}).mongo.batchTimeoutMs, 5000);
    assert.equal(loadConfig({ MONGO_QUERY_TIMEOUT_MS: '750' }).mongo.queryTimeoutMs, 750);
    const problems = problemsOf({ MONGO_QUERY_TIMEOUT_MS: '5000', SHUTDOWN_TIMEOUT_MS: '5000' });
    assert.deepEqual(problems, ['MONGO_QUERY_TIMEOUT_MS: must be below SHUTDOWN_TIMEOUT_MS']);
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

  it('by default, the largest ACK the protocol allows fits one frame', () => {
    const { ws } = loadConfig({});
    const largest = JSON.stringify({ type: 'ACK', notificationIds: Array.from({ length: ws.maxAckBatch }, () => 'x'.repeat(MAX_NOTIFICATION_ID_LENGTH)) });
    assert.equal(ackFrameBytes(ws.maxAckBatch), Buffer.byteLength(largest), 'the arithmetic matches the real frame');
    assert.ok(Buffer.byteLength(largest) <= ws.maxFrameBytes, `${Buffer.byteLength(largest)} bytes fit WS_MAX_FRAME_BYTES=${ws.maxFrameBytes}`);
  });

  it('refuses a WS_MAX_ACK_BATCH whose largest ACK exceeds WS_MAX_FRAME_BYTES, naming both and the numbers', () => {
    const problems = problemsOf({ WS_MAX_ACK_BATCH: '500', WS_MAX_FRAME_BYTES: '16384' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /WS_MAX_ACK_BATCH/);
    assert.match(problems[0]!, /WS_MAX_FRAME_BYTES=16384/);
    assert.match(problems[0]!, new RegExp(`${ackFrameBytes(500)} bytes`));
    // The boundary is exact: a frame limit of precisely the largest ACK is enough, one byte less is not.
    assert.equal(loadConfig({ WS_MAX_ACK_BATCH: '10', WS_MAX_FRAME_BYTES: String(ackFrameBytes(10)) }).ws.maxAckBatch, 10);
    assert.equal(problemsOf({ WS_MAX_ACK_BATCH: '10', WS_MAX_FRAME_BYTES: String(ackFrameBytes(10) - 1) }).length, 1);
  });

  it('bounds connections by default: headers 10 s, a request 30 s, 5,000 HTTP and 25,000 ws-server connections, 600 requests a minute per address', () => {
    const { http, ws } = loadConfig({});
    assert.deepEqual(
      { headers: http.headersTimeoutMs, request: http.requestTimeoutMs, max: http.maxConnections, wsMax: ws.maxConnections, rate: http.rateLimit, hops: http.trustProxyHops },
      { headers: 10_000, request: 30_000, max: 5000, wsMax: 25_000, rate: { perMinute: 600, intakePerMinute: 60_000 }, hops: 0 },
    );
  });

  it('refuses a headers timeout longer than the request timeout, naming both', () => {
    const problems = problemsOf({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /HTTP_HEADERS_TIMEOUT_MS \/ HTTP_REQUEST_TIMEOUT_MS/);
  });
});
