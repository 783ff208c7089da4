import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEV_INTAKE_API_KEY } from '../../shared/config.js';
import { POSTMAN_COLLECTION, POSTMAN_ENVIRONMENT } from '../helpers/postman.js';

/**
 * The Postman collection as a file: what a user sees in Postman before sending anything. Its
 * behaviour against a running stack is test/e2e/postman.test.ts.
 */

interface Auth {
  type: string;
  apikey?: Array<{ key: string; value: string }>;
}
interface Example {
  name: string;
  code: number;
  status: string;
  body: string;
  originalRequest: { method: string; url: unknown };
}
interface Item {
  name: string;
  description?: string;
  auth?: Auth;
  item?: Item[];
  request?: { method: string; description?: string; auth?: Auth; body?: { raw?: string }; url: { raw: string } };
  response?: Example[];
}

const collection = JSON.parse(readFileSync(POSTMAN_COLLECTION, 'utf8')) as Item & { info: { description: string } };
const environment = JSON.parse(readFileSync(POSTMAN_ENVIRONMENT, 'utf8')) as {
  values: Array<{ key: string; value: string; description?: string }>;
};

function walk(
  items: Item[],
  path: string[] = [],
): Array<{ path: string; item: Item; folder: boolean; parents: Item[] }> {
  return items.flatMap((item) => {
    const here = [...path, item.name];
    const self = { path: here.join(' / '), item, folder: item.item !== undefined, parents: [] as Item[] };
    return [self, ...walk(item.item ?? [], here).map((child) => ({ ...child, parents: [item, ...child.parents] }))];
  });
}

const entries = walk(collection.item ?? []);
const requests = entries.filter((e) => !e.folder);

describe('postman collection file', () => {
  it('has a description on the collection, every folder and every request', () => {
    assert.ok(collection.info.description.length > 200);
    const bare = entries
      .filter((e) => ((e.folder ? e.item.description : e.item.request?.description) ?? '').trim().length < 40)
      .map((e) => e.path);
    assert.deepEqual(bare, []);
    assert.ok(requests.length >= 67, `requests: ${requests.length}`);
  });

  it('has at least one saved example answer for every request, each a real HTTP answer of it', () => {
    const without = requests.filter((e) => (e.item.response ?? []).length === 0).map((e) => e.path);
    assert.deepEqual(without, []);
    for (const { path, item } of requests) {
      for (const example of item.response ?? []) {
        assert.ok(
          Number.isInteger(example.code) && example.code >= 200 && example.code < 600,
          `${path}: ${example.name}`,
        );
        assert.ok(example.name.startsWith(`${example.code} ${example.status}`), `${path}: ${example.name}`);
        assert.equal(example.originalRequest.method, item.request?.method, path);
        assert.ok(example.body.length > 0, `${path}: ${example.name} has a body`);
        // Recorded with a real token: none may end up in the file.
        assert.doesNotMatch(
          JSON.stringify(example),
          /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/,
          `${path}: ${example.name} holds a JWT`,
        );
      }
      const names = (item.response ?? []).map((r) => r.name);
      assert.equal(new Set(names).size, names.length, `${path}: example names are unique`);
    }
  });

  it('names every request uniquely (scripts/postman-examples.ts finds requests by path)', () => {
    const paths = requests.map((e) => e.path);
    assert.equal(new Set(paths).size, paths.length);
  });

  it('takes the intake key from the environment, declared once per folder that needs it', () => {
    assert.doesNotMatch(
      JSON.stringify(collection),
      new RegExp(DEV_INTAKE_API_KEY),
      'the key itself is only in the environment',
    );
    const keyAuth = (auth: Auth | undefined) =>
      auth?.apikey?.some((p) => p.value.includes('{{intakeApiKey}}')) ?? false;
    // No request repeats it: each inherits its folder's auth.
    assert.deepEqual(
      requests.filter((e) => keyAuth(e.item.request?.auth)).map((e) => e.path),
      [],
    );
    const folders = entries.filter((e) => e.folder && keyAuth(e.item.auth)).map((e) => e.path);
    assert.deepEqual(folders, [
      'Events',
      'Bad inputs: intake',
      'Follows / 1. Follow (intake key)',
      'Follows / 3. Unfollow (intake key)',
    ]);
    // Every intake route is under one of them (or says otherwise on purpose: the 401 requests).
    const intake = requests.filter((e) =>
      /^(POST \{\{baseUrl\}\}\/(events|like)|POST .*\/follows$|DELETE .*\/follows\/)/.test(
        `${e.item.request?.method} ${e.item.request?.url.raw.split('?')[0]}`,
      ),
    );
    for (const e of intake) {
      const inherits = e.item.request?.auth === undefined && e.parents.some((p) => keyAuth(p.auth));
      assert.ok(inherits || e.item.name.startsWith('401 '), `${e.path} sends the intake key`);
    }
  });

  it('sends a new actor and new objects on every event, so a second send is not a repeat', () => {
    const events = requests.filter((e) => e.path.startsWith('Events / '));
    assert.ok(events.length >= 13);
    for (const { path, item } of events) {
      const raw = item.request?.body?.raw ?? '';
      // A fixed demo actor or post ("user1", "post3") made a second send within 10 s a dropped duplicate.
      assert.doesNotMatch(raw, /"(user|post)\d+"/, path);
      if (raw.includes('"actorId"')) assert.match(raw, /"actorId": "\{\{actorId\}\}"/, path);
      if (raw.includes('"postId"')) assert.match(raw, /"postId": "\{\{\$randomUUID\}\}"/, path);
    }
  });

  it('ships the environment in dev mode: token empty, every variable described', () => {
    const values = new Map(environment.values.map((v) => [v.key, v]));
    assert.equal(values.get('token')?.value, '');
    assert.match(values.get('token')?.description ?? '', /npm run seed/);
    assert.equal(values.get('intakeApiKey')?.value, DEV_INTAKE_API_KEY);
    assert.deepEqual([...values.keys()].sort(), ['baseUrl', 'intakeApiKey', 'otherUserId', 'token', 'userId']);
    for (const v of environment.values) assert.ok((v.description ?? '').length > 20, `${v.key} is described`);
  });
});
