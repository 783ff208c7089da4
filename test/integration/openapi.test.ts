import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Express } from 'express';
import { parse } from 'yaml';
import { createApp } from '../../producer/app.js';
import { isIntakeKeyGuard } from '../../producer/intake-key.js';
import { createProducerMetrics } from '../../producer/metrics.js';
import { openApiPath } from '../../producer/openapi/document.js';
import { eventComponentName, eventComponents } from '../../producer/openapi/event-components.js';
import { createEventPublisher } from '../../producer/publisher.js';
import { createTokenVerifier } from '../../shared/auth/jwt.js';
import { connectInfra, type Infra } from '../../shared/infra.js';
import { connectionLimits, listen } from '../../shared/http/server.js';
import { createRegistry } from '../../shared/metrics.js';
import { EVENT_TYPES } from '../../shared/schemas/event.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('openapi', { INTAKE_API_KEYS: 'openapi-test-intake-key-0123456789abcdef' });
type Operation = {
  responses: Record<string, unknown>;
  security?: Array<Record<string, unknown>>;
  requestBody?: unknown;
};
type Spec = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};
const spec = parse(readFileSync(openApiPath(), 'utf8')) as Spec;

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean>; stack: Array<{ handle: unknown }> };
  handle?: { stack?: Layer[] };
}

/**
 * Every `METHOD /path` the Express app routes, with `:param` written the OpenAPI way; with
 * `guardedOnly`, only those behind the intake-key guard (producer/intake-key.ts).
 */
function routesOf(app: Express, guardedOnly = false): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        if (guardedOnly && !layer.route.stack.some((l) => isIntakeKeyGuard(l.handle))) continue;
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const path of paths) {
          for (const method of Object.keys(layer.route.methods)) {
            if (method !== '_all') out.push(`${method.toUpperCase()} ${path.replace(/:(\w+)/g, '{$1}')}`);
          }
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out;
}

function documented(): string[] {
  const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
  return Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.keys(ops)
      .filter((m) => methods.includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

describe('docs/openapi.yaml against the code', () => {
  let infra: Infra;
  let app: Express;
  let close: () => Promise<void>;
  let base: string;

  before(async () => {
    infra = await connectInfra(config, testLogger);
    const registry = createRegistry('producer');
    const channel = await infra.amqp.createChannel('openapi-test');
    const publisher = createEventPublisher(infra.amqp, channel, config.rabbitmq.publishConfirmTimeoutMs);
    const tokens = await createTokenVerifier(config.auth);
    app = createApp({
      config,
      tokens,
      logger: testLogger,
      infra,
      registry,
      metrics: createProducerMetrics(registry),
      publisher,
    });
    const http = await listen(app, 0, '127.0.0.1', connectionLimits(config, 'producer'));
    base = `http://127.0.0.1:${http.port}`;
    close = async () => {
      await http.close();
      await channel.close();
    };
  });
  after(async () => {
    await close();
    await infra.close();
    await cleanupTestResources(config);
  });

  it('documents every route the producer serves', () => {
    const routes = routesOf(app);
    assert.ok(routes.includes('POST /events'), `route introspection found: ${routes.join(', ')}`);
    const missing = routes.filter((r) => !documented().includes(r));
    assert.deepEqual(missing, [], `undocumented routes: ${missing.join(', ')}`);
  });

  it('documents no route the producer does not serve', () => {
    const routes = routesOf(app);
    // /docs is a mounted Swagger UI (a middleware, not a route); it is fetched below instead.
    const stale = documented().filter((r) => r !== 'GET /docs' && !routes.includes(r));
    assert.deepEqual(stale, [], `documented but not served: ${stale.join(', ')}`);
  });

  it('every operation documents a success status and every error status the route can answer with', () => {
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (method === 'parameters') continue;
        const statuses = Object.keys(op.responses);
        assert.ok(
          statuses.some((s) => s.startsWith('2')),
          `${method} ${path} has a 2xx`,
        );
        if (path.includes('{')) assert.ok(statuses.includes('400'), `${method} ${path} documents 400 for bad params`);
        // Every route but the ops ones goes through the per-client rate limit (producer/rate-limit.ts).
        if (!['/healthz', '/readyz', '/metrics'].includes(path))
          assert.ok(statuses.includes('429'), `${method} ${path} documents 429`);
        if (['post', 'put', 'patch'].includes(method) && !path.includes('{')) {
          for (const s of ['400', '413', '415']) assert.ok(statuses.includes(s), `${method} ${path} documents ${s}`);
        }
        // A JSON body can be unparsable (invalid_json), too big or of another media type.
        if (op.requestBody) {
          assert.deepEqual(
            op.responses['400'],
            { $ref: '#/components/responses/InvalidBody' },
            `${method} ${path}: invalid_json is a 400 too`,
          );
          for (const s of ['413', '415']) assert.ok(statuses.includes(s), `${method} ${path} documents ${s}`);
        }
        // Node's HTTP server answers a request that is too slow to arrive with a 408, on any path.
        assert.deepEqual(
          op.responses['408'],
          { $ref: '#/components/responses/RequestTimeout' },
          `${method} ${path} documents 408`,
        );
      }
    }
  });

  it('every route behind the intake key declares the intakeApiKey scheme and its 401, and no other route does', () => {
    assert.ok(spec.components.securitySchemes.intakeApiKey, 'the scheme is declared');
    const guarded = routesOf(app, true).sort();
    assert.deepEqual(guarded, [
      'DELETE /users/{userId}/follows/{targetId}',
      'POST /events',
      'POST /events/batch',
      'POST /like',
      'POST /users/{userId}/follows',
    ]);
    const declaring = Object.entries(spec.paths)
      .flatMap(([path, ops]) =>
        Object.entries(ops)
          .filter(([m, op]) => m !== 'parameters' && op.security?.some((s) => 'intakeApiKey' in s))
          .map(([m]) => `${m.toUpperCase()} ${path}`),
      )
      .sort();
    assert.deepEqual(declaring, guarded);
    for (const route of guarded) {
      const [method, path] = route.split(' ') as [string, string];
      const op = spec.paths[path]![method.toLowerCase()]!;
      assert.deepEqual(
        op.responses['401'],
        { $ref: '#/components/responses/IntakeUnauthorized' },
        `${route} documents the intake 401`,
      );
      assert.ok(!op.security!.some((s) => 'bearer' in s), `${route} does not offer the bearer scheme`);
    }
  });

  it('the event bodies are exactly the Joi schemas (regenerate with `npx tsx scripts/openapi-events.ts`)', () => {
    const generated = eventComponents();
    for (const type of EVENT_TYPES) {
      const name = eventComponentName(type);
      assert.deepEqual(spec.components.schemas[name], generated[name], `${name} drifted from shared/schemas/event.ts`);
    }
    assert.deepEqual(spec.components.schemas.Event, generated.Event);
    assert.deepEqual(
      spec.components.schemas.LegacyLike,
      generated.LegacyLike,
      'LegacyLike drifted from the LIKE schema',
    );
  });

  it('serves the document at /openapi.json and renders it at /docs', async () => {
    const json = await fetch(`${base}/openapi.json`);
    assert.equal(json.status, 200);
    assert.deepEqual(await json.json(), spec);
    const docs = await fetch(`${base}/docs/`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger-ui/i);
  });

  it('answers CORS preflights for allowed origins only', async () => {
    const preflight = (origin: string) =>
      fetch(`${base}/events`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
    const local = await preflight('http://localhost:8080');
    assert.equal(local.status, 204);
    assert.equal(local.headers.get('access-control-allow-origin'), 'http://localhost:8080');
    assert.match(local.headers.get('access-control-allow-headers') ?? '', /Content-Type/);
    // The demo page sends its intake key (Authorization: ApiKey) from another origin.
    assert.match(local.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    const foreign = await preflight('https://evil.example');
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  });

  it('lets a page on an allowed origin read Retry-After (the answer to a 503 says when to try again) and X-Request-Id', async () => {
    const res = await fetch(`${base}/openapi.json`, { headers: { origin: 'http://localhost:8080' } });
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:8080');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /Retry-After/);
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /X-Request-Id/);
  });

  it('documents X-Request-Id on every answer but the 408 (which Node sends, not the app)', () => {
    type Response = { $ref?: string; headers?: Record<string, unknown> };
    const responses = (spec.components as unknown as { responses: Record<string, Response> }).responses;
    const ref = { $ref: '#/components/headers/RequestId' };
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (method === 'parameters') continue;
        for (const [status, answer] of Object.entries(op.responses as Record<string, Response>)) {
          if (status === '408') continue;
          const resolved = answer.$ref ? responses[answer.$ref.split('/').pop()!]! : answer;
          if (JSON.stringify(resolved.headers?.['X-Request-Id']) !== JSON.stringify(ref))
            missing.push(`${method} ${path} ${status}`);
        }
      }
    }
    assert.deepEqual(missing, []);
    assert.ok(!responses.RequestTimeout!.headers, 'the 408 has no headers of the app');
  });
});
