import { fileURLToPath } from 'node:url';
import { bundle, loadConfig } from '@redocly/openapi-core';
import type { Ajv2020, ValidateFunction } from 'ajv/dist/2020.js';
import { loadOpenApi } from '../../producer/openapi/document.js';
import { createAjv } from './ajv.js';

/**
 * docs/openapi.yaml as a contract: its operations (with references inlined, for generating
 * requests) and two questions asked of the document itself through ajv (JSON Schema 2020-12, the
 * dialect of OpenAPI 3.1): is this request valid, and does this answer conform.
 */

export type Json = Record<string, unknown>;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Json;
  /** Where the schema is in the document, for ajv. */
  pointer: string;
}

export interface Operation {
  id: string;
  method: string;
  path: string;
  parameters: Parameter[];
  security: 'none' | 'bearer' | 'intakeApiKey';
  /** The JSON request body's schema (inlined) and its pointer; undefined without a body. */
  body?: { schema: Json; pointer: string };
  responses: Record<string, { pointer: string; value: Json }>;
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const escape = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

function at(doc: Json, pointer: string): unknown {
  return pointer
    .slice(2)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node as Json | undefined)?.[key], doc);
}

/** Follows a local `$ref` (one level suffices for this document): the value and where it is. */
function deref(doc: Json, value: Json, pointer: string): { value: Json; pointer: string } {
  const ref = value.$ref;
  if (typeof ref !== 'string') return { value, pointer };
  if (!ref.startsWith('#/')) throw new Error(`openapi-contract: only local references: ${ref}`);
  return { value: at(doc, ref) as Json, pointer: ref };
}

export class Contract {
  readonly operations: Operation[];
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();

  private constructor(
    readonly raw: Json,
    inlined: Json,
  ) {
    this.ajv = createAjv();
    this.ajv.addSchema(raw, 'openapi');
    this.operations = this.operationsOf(inlined);
  }

  static async load(): Promise<Contract> {
    const config = await loadConfig({ configPath: `${root}redocly.yaml` });
    const inlined = await bundle({ ref: `${root}docs/openapi.yaml`, config, dereference: true });
    return new Contract(loadOpenApi(), inlined.bundle.parsed as Json);
  }

  private operationsOf(inlined: Json): Operation[] {
    const raw = this.raw;
    const out: Operation[] = [];
    for (const [path, item] of Object.entries(raw.paths as Record<string, Json>)) {
      const base = `#/paths/${escape(path)}`;
      for (const method of METHODS.filter((m) => m in item)) {
        const opPointer = `${base}/${method}`;
        const op = item[method] as Json;
        const rawParams = [
          ...((item.parameters ?? []) as Json[]).map((p, i) => deref(raw, p, `${base}/parameters/${i}`)),
          ...((op.parameters ?? []) as Json[]).map((p, i) => deref(raw, p, `${opPointer}/parameters/${i}`)),
        ];
        const parameters = rawParams.map(({ value, pointer }) => ({
          name: value.name as string,
          in: value.in as Parameter['in'],
          required: value.required === true,
          schema: at(inlined, `${pointer}/schema`) as Json,
          pointer: `${pointer}/schema`,
        }));
        const security = ((op.security ?? []) as Json[]).flatMap((s) => Object.keys(s))[0] ?? 'none';
        const bodyPointer = `${opPointer}/requestBody/content/application~1json/schema`;
        const responses = Object.fromEntries(
          Object.entries(op.responses as Record<string, Json>).map(([status, r]) => [
            status,
            deref(raw, r, `${opPointer}/responses/${status}`),
          ]),
        );
        out.push({
          id: (op.operationId as string | undefined) ?? `${method.toUpperCase()} ${path}`,
          method: method.toUpperCase(),
          path,
          parameters,
          security: security as Operation['security'],
          ...(op.requestBody ? { body: { schema: at(inlined, bodyPointer) as Json, pointer: bodyPointer } } : {}),
          responses,
        });
      }
    }
    return out;
  }

  private validator(pointer: string): ValidateFunction {
    let fn = this.compiled.get(pointer);
    if (!fn) {
      fn = this.ajv.compile({ $ref: `openapi${pointer}` });
      this.compiled.set(pointer, fn);
    }
    return fn;
  }

  /** ajv's complaint about `value` against the schema at `pointer`, or undefined when it conforms. */
  problem(pointer: string, value: unknown): string | undefined {
    const validate = this.validator(pointer);
    return validate(value) ? undefined : this.ajv.errorsText(validate.errors);
  }

  /** The paths' declared methods, as a 405's `Allow` lists them (plus HEAD and OPTIONS). */
  allowOf(path: string): string[] {
    const item = (this.raw.paths as Record<string, Json>)[path] ?? {};
    const methods = METHODS.filter((m) => m in item).map((m) => m.toUpperCase());
    if (methods.includes('GET')) methods.push('HEAD');
    return [...methods, 'OPTIONS'].sort();
  }

  /**
   * What is wrong with an answer to `op` (empty when it conforms): an undocumented status, a
   * media type not documented for it, a body its schema refuses, a header its schema refuses.
   */
  conformance(
    responses: Operation['responses'],
    status: number,
    headers: Record<string, string | string[] | undefined>,
    text: string,
  ): string[] {
    const documented = responses[String(status)] ?? responses.default;
    if (!documented) return [`status ${status} is not documented (documented: ${Object.keys(responses).join(', ')})`];
    const problems: string[] = [];
    const content = documented.value.content as Record<string, Json> | undefined;
    const type = String(headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (!content) {
      if (text.length > 0) problems.push(`status ${status} documents no body, got ${type} "${text.slice(0, 80)}"`);
    } else if (!(type in content)) {
      problems.push(`status ${status}: media type "${type}" not documented (${Object.keys(content).join(', ')})`);
    } else if (type === 'application/json') {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        problems.push(`status ${status}: not JSON: ${text.slice(0, 80)}`);
      }
      const wrong =
        body === undefined ? undefined : this.problem(`${documented.pointer}/content/application~1json/schema`, body);
      if (wrong) problems.push(`status ${status}: body ${text.slice(0, 200)} does not match: ${wrong}`);
    }
    for (const [name, header] of Object.entries((documented.value.headers ?? {}) as Record<string, Json>)) {
      const value = headers[name.toLowerCase()];
      if (value === undefined) continue;
      const { value: spec, pointer } = deref(this.raw, header, `${documented.pointer}/headers/${name}`);
      const schema = spec.schema as Json | undefined;
      const typed = schema?.type === 'integer' && /^-?\d+$/.test(String(value)) ? Number(value) : value;
      const wrong = schema ? this.problem(`${pointer}/schema`, typed) : undefined;
      if (wrong) problems.push(`status ${status}: header ${name}: ${String(value)}: ${wrong}`);
    }
    return problems;
  }
}
