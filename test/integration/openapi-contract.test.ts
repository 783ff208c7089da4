import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { v7 as uuidv7 } from 'uuid';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { idSchema } from '../../shared/schemas/event.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { invalidOf, validOf, type Schema } from '../helpers/json-schema-arbitrary.js';
import { testLogger } from '../helpers/logger.js';
import { Contract, type Json, type Operation } from '../helpers/openapi-contract.js';
import { isTimeZone } from '../../shared/preferences.js';

/*
 * The contract test (what schemathesis does, in Node so that `npm test` runs it anywhere):
 * requests generated from docs/openapi.yaml for every operation, most valid, the others broken in
 * one place (a parameter, a body field, the JSON itself, the media type, the size, the
 * credential), sent to a real producer. Every answer must be documented for its operation, in
 * status, media type, body schema and headers; a request the document calls valid must not be
 * refused as invalid (400, 401, 405, 413, 415), and one it calls invalid must be refused (4xx).
 * Then every path with each method it does not list: 405 with the right `Allow`. The document
 * itself decides which requests are valid (ajv), so the test cannot agree with a wrong
 * generator. The defaults it checks (500 events a batch, 64 KiB a body) are the spec's: the
 * producer runs with the default limits.
 */
const INTAKE_KEY = 'contract-intake-key-0123456789-abcdefghijklmnopqrstuvwxyz';
const { config } = testEnv('oacontract', { INTAKE_API_KEYS: INTAKE_KEY });
const NUM_REQUESTS = 3000;
const IN_FLIGHT = 8;
/** The follow routes parse their small bodies with a 4 KiB limit (producer/routes/follows.ts). */
const FOLLOW_BODY_BYTES = 4096;
/** Owns the seeded notifications: the credential of an operation with no user in its path. */
const OWNER = 'contract-owner';
/** Statuses that mean "your request is invalid": never the answer to one the document calls valid. */
const INVALID_INPUT = new Set([400, 401, 405, 413, 415]);

type Credential = 'valid' | 'none' | 'other-user' | 'wrong-scheme' | 'garbage';
type RawBody = 'broken-json' | 'wrong-media-type' | 'oversize' | 'none';

interface Draft {
  op: Operation;
  /** Serialized as sent; absent = not sent. Keyed `in:name`. */
  params: Record<string, string>;
  credential: Credential;
  body: { json: unknown } | { raw: RawBody };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
let producer: ProducerService;
let mongo: Connection;
let m: Models;
let contract: Contract;
const notificationIds: string[] = [];
const FOLLOWER = 'contract-follower';
/** Followed by FOLLOWER from the start: some to mute (never unfollowed), more to unfollow. */
const TO_MUTE = ['contract-m1', 'contract-m2', 'contract-m3'];
const TO_UNFOLLOW = Array.from({ length: 20 }, (_, i) => `contract-u${i}`);
const isOp = (op: Operation, method: string, path: string) => op.method === method && op.path === path;

function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: producer.port, method, path, headers, agent, timeout: 15_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A parameter's value as it travels: JSON for a structure, text for the rest. */
function serialized(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/** What the server reads back from a sent value, for the document to judge (form style, explode). */
function parsed(schema: Json, text: string): unknown {
  return schema.type === 'integer' && /^-?\d+$/.test(text) ? Number(text) : text;
}

/** Text that a path segment, a query or a header can carry as generated. */
function sendable(where: string, text: string): boolean {
  if (/\p{Cs}/u.test(text)) return false; // a lone surrogate has no UTF-8 form
  if (where === 'path') return text.length > 0; // an empty segment is another path
  // A header is printable ASCII; spaces around it are not part of its value (RFC 9110).
  if (where === 'header') return /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/.test(text);
  return true;
}

/** Seeded ids, so the operations that need something to exist (a read, a mute, an unfollow) succeed too. */
function seeded(op: Operation, name: string): string[] {
  if (name === 'id') return notificationIds;
  if (name === 'targetId') return op.method === 'DELETE' ? TO_UNFOLLOW : TO_MUTE;
  if (name === 'userId') return op.path.includes('/follows') ? [FOLLOWER] : [OWNER];
  return [];
}

const zones = Intl.supportedValuesOf('timeZone');

function paramArb(op: Operation, p: Operation['parameters'][number], valid: boolean): fc.Arbitrary<string | undefined> {
  const schema = p.schema as Schema;
  const seeds = seeded(op, p.name);
  const generated = validOf(schema);
  const values = !valid
    ? invalidOf(schema)
    : seeds.length === 0
      ? generated
      : fc.oneof({ weight: 3, arbitrary: generated }, { weight: 2, arbitrary: fc.constantFrom(...seeds) });
  if (!values) throw new Error(`${op.id}: ${p.name} cannot be made invalid`);
  const text = values.map(serialized).filter((t) => sendable(p.in, t));
  return p.required || !valid ? text : fc.option(text, { nil: undefined, freq: 2 });
}

function validParams(op: Operation): fc.Arbitrary<Record<string, string>> {
  const entries = op.parameters.map((p) =>
    paramArb(op, p, true).map((v): [string, string | undefined] => [`${p.in}:${p.name}`, v]),
  );
  return fc.tuple(...entries).map((pairs) => {
    const out: Record<string, string> = {};
    for (const [key, value] of pairs) if (value !== undefined) out[key] = value;
    return out;
  });
}

function bodyArb(op: Operation): fc.Arbitrary<unknown> {
  const body = validOf(op.body!.schema as Schema);
  if (!isOp(op, 'PUT', '/users/{userId}/preferences')) return body;
  // A time zone is any string to the schema and an IANA zone to the server: real ones, so a
  // valid body stays valid (verdictOf says why the others are not judged).
  return fc.tuple(body, fc.constantFrom(...zones)).map(([prefs, timeZone]) => {
    const dnd = (prefs as Json).doNotDisturb as Json | null | undefined;
    return dnd ? { ...(prefs as Json), doNotDisturb: { ...dnd, timeZone } } : prefs;
  });
}

/** One operation's requests: valid ones, and ones broken in exactly one place. */
function draftsOf(op: Operation): fc.Arbitrary<Draft> {
  const valid = fc.record({
    op: fc.constant(op),
    params: validParams(op),
    credential: fc.constant<Credential>('valid'),
    body: op.body ? bodyArb(op).map((json) => ({ json })) : fc.constant({ json: undefined }),
  });
  const breaks: fc.Arbitrary<(d: Draft) => Draft>[] = [
    fc
      .constantFrom<Credential>('none', 'other-user', 'wrong-scheme', 'garbage')
      .map((credential) => (d: Draft) => ({ ...d, credential })),
  ];
  for (const p of op.parameters) {
    const key = `${p.in}:${p.name}`;
    breaks.push(paramArb(op, p, false).map((v) => (d: Draft) => ({ ...d, params: { ...d.params, [key]: v! } })));
  }
  if (op.body) {
    const bad = invalidOf(op.body.schema as Schema);
    if (bad) breaks.push(bad.map((json) => (d: Draft) => ({ ...d, body: { json } })));
    breaks.push(
      fc
        .constantFrom<RawBody>('broken-json', 'wrong-media-type', 'oversize', 'none')
        .map((raw) => (d: Draft) => ({ ...d, body: { raw } })),
    );
  }
  return fc
    .tuple(valid, fc.option(fc.oneof(...breaks), { nil: undefined, freq: 2 }))
    .map(([d, broken]) => (broken ? broken(d) : d));
}

function bodyLimit(op: Operation): number {
  if (op.path.includes('/follows')) return FOLLOW_BODY_BYTES;
  return op.path === '/events/batch' ? config.http.batchMaxBodyBytes : config.http.maxBodyBytes;
}

async function authorization(d: Draft): Promise<string | undefined> {
  const userId = d.params['path:userId'];
  const self = userId !== undefined && !idSchema.validate(userId, { convert: false }).error ? userId : OWNER;
  const token = (sub: string) => signUserToken(sub, config.auth.jwtSecret);
  const apiKey = `ApiKey ${INTAKE_KEY}`;
  switch (d.credential) {
    case 'none':
      return undefined;
    case 'garbage':
      return d.op.security === 'intakeApiKey' ? 'ApiKey not-the-key' : 'Bearer not.a.jwt';
    case 'wrong-scheme':
      return d.op.security === 'intakeApiKey' ? `Bearer ${await token(self)}` : apiKey;
    case 'other-user':
      return d.op.security === 'intakeApiKey' ? apiKey : `Bearer ${await token('contract-someone-else')}`;
    case 'valid':
      return d.op.security === 'intakeApiKey'
        ? apiKey
        : d.op.security === 'bearer'
          ? `Bearer ${await token(self)}`
          : undefined;
  }
}

function wire(d: Draft): { path: string; headers: Record<string, string>; body?: string } {
  const path = d.op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(d.params[`path:${name}`]!));
  const query = new URLSearchParams();
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(d.params)) {
    const [where, name] = key.split(':') as [string, string];
    if (where === 'query') query.append(name, value);
    if (where === 'header') headers[name] = value;
  }
  const url = query.size > 0 ? `${path}?${query}` : path;
  if (!d.op.body) return { path: url, headers };
  const json = 'json' in d.body ? JSON.stringify(d.body.json) : JSON.stringify({});
  if ('json' in d.body) return { path: url, headers: { ...headers, 'content-type': 'application/json' }, body: json };
  switch (d.body.raw) {
    case 'broken-json':
      return { path: url, headers: { ...headers, 'content-type': 'application/json' }, body: '{"events": [' };
    case 'wrong-media-type':
      return { path: url, headers: { ...headers, 'content-type': 'text/plain' }, body: json };
    case 'oversize':
      return {
        path: url,
        headers: { ...headers, 'content-type': 'application/json' },
        body: json.padEnd(bodyLimit(d.op) + 1, ' '),
      };
    case 'none':
      return { path: url, headers };
  }
}

type Verdict = 'valid' | 'invalid' | 'indeterminate';

/** What the document says of a request; `indeterminate` where validity depends on more than schemas. */
function verdictOf(d: Draft): { verdict: Verdict; why: string } {
  const { op } = d;
  if (op.security !== 'none' && !['valid', 'other-user'].includes(d.credential))
    return { verdict: 'invalid', why: `credential ${d.credential}` };
  for (const p of op.parameters) {
    const text = d.params[`${p.in}:${p.name}`];
    if (text === undefined) {
      if (p.required) return { verdict: 'invalid', why: `${p.name} missing` };
      continue;
    }
    const wrong = contract.problem(p.pointer, parsed(p.schema, text));
    if (wrong) return { verdict: 'invalid', why: `${p.name} ${JSON.stringify(text).slice(0, 60)}: ${wrong}` };
  }
  if (op.body) {
    if ('raw' in d.body) return { verdict: 'invalid', why: `body ${d.body.raw}` };
    const wrong = contract.problem(op.body.pointer, d.body.json);
    if (wrong) return { verdict: 'invalid', why: `body: ${wrong}` };
  }
  // Rules the descriptions state and no schema can: an opaque cursor, no following oneself, a
  // body eventId equal to the Idempotency-Key, a time zone Intl knows, a do-not-disturb end other than its start.
  const body = (op.body && 'json' in d.body ? d.body.json : {}) as Json;
  if (d.params['query:before'] !== undefined || d.params['query:after'] !== undefined)
    return { verdict: 'indeterminate', why: 'cursor' };
  if (isOp(op, 'POST', '/users/{userId}/follows') && body.targetId === d.params['path:userId'])
    return { verdict: 'indeterminate', why: 'follows itself' };
  const key = d.params['header:Idempotency-Key'];
  if (key && body.eventId !== undefined && body.eventId !== key)
    return { verdict: 'indeterminate', why: 'eventId ≠ Idempotency-Key' };
  const dnd = body.doNotDisturb as Json | null | undefined;
  if (typeof dnd?.timeZone === 'string' && !isTimeZone(dnd.timeZone))
    return { verdict: 'indeterminate', why: 'time zone' };
  const secondsOf = (time: unknown) =>
    String(time)
      .split(':')
      .reduce((total, part, i) => total + Number(part) * [3600, 60, 1][i]!, 0);
  if (dnd && secondsOf(dnd.start) === secondsOf(dnd.end)) return { verdict: 'indeterminate', why: 'empty window' };
  return { verdict: 'valid', why: '' };
}

/** The exact refusal a broken body earns once the credential is right (the guards come first). */
function expectedFor(d: Draft): number | undefined {
  if (!('raw' in d.body) || d.credential !== 'valid') return undefined;
  return { 'broken-json': 400, 'wrong-media-type': 415, oversize: 413, none: 415 }[d.body.raw];
}

interface Mismatch {
  op: string;
  request: string;
  status: number;
  problem: string;
}

async function runAll<T>(items: T[], worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < items.length) await worker(items[next++]!);
    }),
  );
}

function report(mismatches: Mismatch[], seed: number): string {
  const first = new Map<string, Mismatch>();
  for (const mm of mismatches) {
    const kind = `${mm.op} ${mm.status} ${mm.problem.split(':')[0]}`;
    if (!first.has(kind)) first.set(kind, mm);
  }
  const lines = [...first.values()].map(
    (mm) => `- ${mm.op} → ${mm.status}: ${mm.problem.slice(0, 300)}\n    ${mm.request.slice(0, 300)}`,
  );
  return `${mismatches.length} mismatches of ${first.size} kinds (fast-check seed ${seed}):\n${lines.join('\n')}`;
}

describe('the running producer against docs/openapi.yaml (generated requests)', () => {
  before(async () => {
    contract = await Contract.load();
    producer = await bootstrap(config, testLogger);
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
    const createdAt = new Date();
    await m.User.create([
      { _id: 'contract-u1', name: 'Ada', createdAt },
      { _id: 'contract-u2', name: 'Grace', createdAt },
    ]);
    await m.Post.create([{ _id: 'contract-p1', authorId: 'contract-u1', title: 'Hello', createdAt }]);
    for (const status of ['undelivered', 'delivered', 'read'] as const) {
      const id = uuidv7();
      notificationIds.push(id);
      await m.Notification.create({
        _id: id,
        userId: OWNER,
        seq: notificationIds.length,
        type: 'LIKE',
        priority: 5,
        actors: ['contract-u1'],
        actorCount: 1,
        objectId: 'contract-p1',
        message: 'Ada liked your post',
        status,
        version: 1,
        eventIds: [],
        createdAt: new Date(),
        deliveredAt: null,
        readAt: status === 'read' ? new Date() : null,
        persistedAt: new Date(),
      });
    }
    for (const targetId of [...TO_MUTE, ...TO_UNFOLLOW]) {
      const res = await send(
        'POST',
        `/users/${FOLLOWER}/follows`,
        { authorization: `ApiKey ${INTAKE_KEY}`, 'content-type': 'application/json' },
        JSON.stringify({ targetId }),
      );
      assert.equal(res.status, 201, res.text);
    }
  });
  after(async () => {
    agent.destroy();
    await producer.close();
    await mongo.close();
    await cleanupTestResources(config);
  });

  it(`answers ${NUM_REQUESTS} generated requests as documented`, async (t) => {
    const seed = Date.now();
    const drafts = fc.sample(fc.oneof(...contract.operations.map(draftsOf)), { numRuns: NUM_REQUESTS, seed });
    const mismatches: Mismatch[] = [];
    const seen = new Map<string, { valid: number; invalid: number; success: number }>();
    await runAll(drafts, async (d) => {
      const { verdict, why } = verdictOf(d);
      const { path, headers, body } = wire(d);
      const auth = await authorization(d);
      const answer = await send(d.op.method, path, { ...headers, ...(auth ? { authorization: auth } : {}) }, body);
      const request = `${d.op.method} ${path} [${d.credential}] ${String(body ?? '').slice(0, 200)} — ${verdict}${why ? `: ${why.slice(0, 160)}` : ''}`;
      const add = (problem: string) => mismatches.push({ op: d.op.id, request, status: answer.status, problem });
      for (const problem of contract.conformance(d.op.responses, answer.status, answer.headers, answer.text))
        add(problem);
      if (answer.status >= 500) add('a server error');
      if (verdict === 'valid' && INVALID_INPUT.has(answer.status))
        add(`a valid request refused: ${answer.text.slice(0, 200)}`);
      if (verdict === 'invalid' && (answer.status < 400 || answer.status >= 500))
        add(`an invalid request (${why}) not refused`);
      const exact = expectedFor(d);
      if (exact !== undefined && answer.status !== exact) add(`expected ${exact}`);
      const counts = seen.get(d.op.id) ?? { valid: 0, invalid: 0, success: 0 };
      if (verdict === 'valid') counts.valid += 1;
      if (verdict === 'invalid') counts.invalid += 1;
      if (answer.status < 400) counts.success += 1;
      seen.set(d.op.id, counts);
    });
    assert.equal(mismatches.length, 0, report(mismatches, seed));
    // The generator reached every operation, past validation to a success, and broke every one
    // that has something to break (a parameter, a body, a credential).
    for (const op of contract.operations) {
      const counts = seen.get(op.id);
      const breakable = op.parameters.length > 0 || op.body !== undefined || op.security !== 'none';
      assert.ok(
        counts && counts.valid > 0 && counts.success > 0 && (counts.invalid > 0 || !breakable),
        `${op.id}: ${JSON.stringify(counts)}`,
      );
    }
    const total = [...seen.values()].reduce((a, c) => ({ valid: a.valid + c.valid, invalid: a.invalid + c.invalid }), {
      valid: 0,
      invalid: 0,
    });
    t.diagnostic(
      `${drafts.length} requests over ${seen.size} operations: ${total.valid} valid, ${total.invalid} invalid, the rest undecidable by schema`,
    );
  });

  it('answers every path asked with a method it does not list with 405 and Allow, OPTIONS with 204 and Allow', async () => {
    const methodNotAllowed = contract.raw.components as { responses: Record<string, unknown> };
    const responses = {
      '405': {
        pointer: '#/components/responses/MethodNotAllowed',
        value: methodNotAllowed.responses.MethodNotAllowed as Json,
      },
    };
    const paths = [...new Set(contract.operations.map((op) => op.path))];
    let cases = 0;
    for (const template of paths) {
      const path = template.replace(/\{\w+\}/g, 'contract-x');
      const allow = contract.allowOf(template);
      for (const method of ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'TRACE', 'OPTIONS'].filter(
        (mm) => !allow.includes(mm) || mm === 'OPTIONS',
      )) {
        cases += 1;
        const answer = await send(method, path, {});
        assert.equal(answer.headers.allow, allow.join(', '), `${method} ${path}: Allow`);
        if (method === 'OPTIONS') {
          assert.equal(answer.status, 204, `${method} ${path}`);
          continue;
        }
        assert.equal(answer.status, 405, `${method} ${path}: ${answer.text}`);
        assert.deepEqual(
          contract.conformance(responses, answer.status, answer.headers, answer.text),
          [],
          `${method} ${path}`,
        );
      }
    }
    assert.ok(cases > paths.length * 3, `${cases} cases`);
    // Paths match as Express matches them (any case, a trailing slash); HEAD is GET's; an unknown
    // path stays a 404.
    const upper = await send('GET', '/EVENTS/', {});
    assert.equal(upper.status, 405);
    assert.equal(upper.headers.allow, 'OPTIONS, POST');
    assert.equal((await send('HEAD', '/healthz', {})).status, 200);
    assert.equal((await send('TRACE', '/no-such-path', {})).status, 404);
  });
});
