import { readFileSync, writeFileSync } from 'node:fs';
import type { Response } from 'postman-collection';
import { DEV_INTAKE_API_KEY } from '../shared/config.js';
import { startPipeline } from '../test/helpers/pipeline.js';
import { failuresOf, POSTMAN_COLLECTION, runPostman, type PostmanRun } from '../test/helpers/postman.js';

/**
 * `npx tsx scripts/postman-examples.ts`: refreshes the saved example answers ("response") of every
 * request in the Postman collection from real answers. It runs the collection with the shipped
 * environment against a whole pipeline in this process (the local RabbitMQ, Redis and FerretDB of
 * `npm run services:up`, in a database of its own), once in token mode and once in dev mode
 * (WS_AUTH_MODE=dev, no token), and stores each request's last answer; when the two modes answer
 * differently (the auth checks), both, named by mode. Run it after changing the API or the
 * collection; test/unit/postman-collection.test.ts checks every request has one.
 */

/** Longer bodies (the OpenAPI document) keep their first lines only, and say so. */
const MAX_BODY_CHARS = 4000;

interface Example {
  name: string;
  originalRequest: unknown;
  status: string;
  code: number;
  _postman_previewlanguage: string;
  header: Array<{ key: string; value: string }>;
  cookie: [];
  body: string;
}

interface CollectionItem {
  name: string;
  item?: CollectionItem[];
  request?: Record<string, unknown>;
  response?: Example[];
}

type Mode = 'token' | 'dev';
const MODE_LABEL: Record<Mode, string> = { token: 'token mode', dev: 'dev mode, no token' };

async function answers(mode: Mode): Promise<Map<string, Response>> {
  const p = await startPipeline(`postmanex${mode}`, {
    INTAKE_API_KEYS: DEV_INTAKE_API_KEY,
    ...(mode === 'dev' ? { WS_AUTH_MODE: 'dev' } : {}),
  });
  let run: PostmanRun;
  try {
    const envVar = [{ key: 'baseUrl', value: p.producerUrl }];
    if (mode === 'token') envVar.push({ key: 'token', value: await p.token('user2') });
    run = await runPostman(envVar);
  } finally {
    await p.close();
  }
  const failures = failuresOf(run.summary);
  // Examples of a broken run would document the breakage.
  if (failures.length > 0) throw new Error(`the ${mode}-mode run failed:\n${failures.join('\n')}`);
  // The last answer of each request: History polls until something is stored.
  return new Map(run.answers.map((a) => [a.path, a.response]));
}

/** Of Prometheus text, the producer's own series (its HELP, TYPE and samples), not Node's process metrics. */
function producerSeries(text: string): string {
  return text
    .split('\n')
    .filter((line) => /^(# (HELP|TYPE) )?producer_/.test(line))
    .join('\n');
}

function bodyOf(r: Response): { text: string; language: string; cut: string | null } {
  const raw = r.stream?.toString('utf8') ?? '';
  const type = r.headers.get('content-type') ?? '';
  const json = type.includes('json');
  if (type.includes('text/plain') && raw.includes('# TYPE producer_')) {
    return { text: producerSeries(raw), language: 'text', cut: 'the producer_* series' };
  }
  let text = raw;
  if (json) {
    try {
      text = JSON.stringify(JSON.parse(raw), null, 2);
    } catch {
      // Not JSON after all: stored as sent.
    }
  }
  if (text.length <= MAX_BODY_CHARS) return { text, language: json ? 'json' : 'text', cut: null };
  const head = text.slice(0, text.lastIndexOf('\n', MAX_BODY_CHARS));
  return {
    text: `${head}\n… (${raw.length} bytes in all; cut by scripts/postman-examples.ts)`,
    language: 'text',
    cut: 'first lines',
  };
}

function exampleOf(item: CollectionItem, r: Response, mode: Mode | null): Example {
  const { text, language, cut } = bodyOf(r);
  const { description: _description, ...request } = item.request ?? {};
  const suffix = [mode && MODE_LABEL[mode], cut].filter(Boolean).join(', ');
  return {
    name: `${r.code} ${r.status}${suffix ? ` (${suffix})` : ''}`,
    // As Postman saves an example: the request as written, {{variables}} unresolved (no token in it).
    originalRequest: request,
    status: r.status,
    code: r.code,
    _postman_previewlanguage: language,
    header: r.headers.all().map((h) => ({ key: h.key, value: String(h.value) })),
    cookie: [],
    body: text,
  };
}

/** Token mode's answer; dev mode's too when it differs (another status or error code). */
function examplesOf(item: CollectionItem, token: Response | undefined, dev: Response | undefined): Example[] {
  const errorOf = (r: Response) => {
    try {
      return (JSON.parse(r.stream?.toString('utf8') ?? '') as { error?: unknown }).error;
    } catch {
      return undefined;
    }
  };
  if (token && dev && (token.code !== dev.code || errorOf(token) !== errorOf(dev))) {
    return [exampleOf(item, token, 'token'), exampleOf(item, dev, 'dev')];
  }
  const only = token ?? dev;
  return only ? [exampleOf(item, only, null)] : [];
}

const collection = JSON.parse(readFileSync(POSTMAN_COLLECTION, 'utf8')) as CollectionItem;
const token = await answers('token');
const dev = await answers('dev');
const missing: string[] = [];
const visit = (items: CollectionItem[], path: string[]) => {
  for (const item of items) {
    const here = [...path, item.name];
    if (item.item) {
      visit(item.item, here);
      continue;
    }
    const key = here.join(' / ');
    item.response = examplesOf(item, token.get(key), dev.get(key));
    if (item.response.length === 0) missing.push(key);
  }
};
visit(collection.item ?? [], []);
writeFileSync(POSTMAN_COLLECTION, `${JSON.stringify(collection, null, 2)}\n`);
process.stdout.write(
  `examples written to ${POSTMAN_COLLECTION}${missing.length ? `; not run, so none: ${missing.join(', ')}` : ''}\n`,
);
process.exit(missing.length > 0 ? 1 : 0);
