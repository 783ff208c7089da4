import fc from 'fast-check';

/**
 * fast-check values from a JSON Schema (OpenAPI 3.1, references already inlined): `validOf`
 * draws values meant to satisfy it, `invalidOf` values meant to break it in one place (a wrong
 * type, a bound crossed, a pattern broken, a required key dropped, an unknown key added). Meant,
 * not guaranteed (a broken LIKE may be a valid COMMENT): the contract test asks the spec itself
 * (ajv) which a request is. Covers the keywords docs/openapi.yaml's request schemas use; any
 * other throws, so a new one is not silently left ungenerated.
 */
export type Schema = Record<string, unknown>;

/** Generated strings per `format`; without one here a format is not generated. */
export type Formats = Record<string, fc.Arbitrary<string>>;

const KNOWN = new Set([
  'type',
  'const',
  'enum',
  'oneOf',
  'anyOf',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'format',
  'default',
  'description',
  'examples',
  'example',
  'discriminator',
  'title',
]);

/** Characters that break the id and time patterns, and JSON-Schema-length-changing ones. */
const BREAKERS = [' ', '!', '/', '%', '#', '?', '&', 'é', '\u00a0', '\u{1F600}', '\n', '"', '\\'];
const WRONG_TYPED: unknown[] = [null, true, 0, 1.5, -7, 'x', '12', '', [], [1], {}, { a: 1 }];

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typesOf(s: Schema): string[] | undefined {
  if (Array.isArray(s.type)) return s.type as string[];
  if (typeof s.type === 'string') return [s.type];
  if (s.properties) return ['object'];
  return undefined;
}

function check(s: Schema): void {
  for (const key of Object.keys(s))
    if (!KNOWN.has(key)) throw new Error(`json-schema-arbitrary: unsupported keyword "${key}"`);
}

function stringOf(s: Schema, formats: Formats): fc.Arbitrary<string> {
  const min = (s.minLength as number | undefined) ?? 0;
  const max = s.maxLength as number | undefined;
  const fits = (v: string) => [...v].length >= min && (max === undefined || [...v].length <= max);
  if (typeof s.format === 'string') {
    const arb = formats[s.format];
    if (!arb) throw new Error(`json-schema-arbitrary: no generator for format "${s.format}"`);
    return arb.filter(fits);
  }
  if (typeof s.pattern === 'string') return fc.stringMatching(new RegExp(s.pattern, 'u')).filter(fits);
  return fc.string({ unit: 'binary', minLength: min, ...(max === undefined ? {} : { maxLength: max }) });
}

function numberOf(s: Schema, integer: boolean): fc.Arbitrary<number> {
  const step = s.multipleOf as number | undefined;
  const lo = (s.minimum as number | undefined) ?? (s.exclusiveMinimum as number | undefined);
  const hi = (s.maximum as number | undefined) ?? (s.exclusiveMaximum as number | undefined);
  if (step !== undefined) {
    // k / (1 / step): 1234 / 100 is exactly the double nearest 12.34, 1234 * 0.01 is not.
    const per = Math.round(1 / step);
    const kLo = lo === undefined ? -1e9 : Math.floor(lo * per) + (s.exclusiveMinimum === undefined ? 0 : 1);
    const kHi =
      hi === undefined ? 1e9 : Math.min(Math.ceil(hi * per) - (s.exclusiveMaximum === undefined ? 0 : 1), 1e12);
    return fc.integer({ min: Math.max(kLo, -1e12), max: kHi }).map((k) => k / per);
  }
  if (integer) return fc.integer({ min: lo ?? -1e9, max: hi ?? 1e9 });
  return fc.double({
    noNaN: true,
    noDefaultInfinity: true,
    ...(lo === undefined ? {} : { min: lo, minExcluded: s.exclusiveMinimum !== undefined }),
    ...(hi === undefined ? {} : { max: hi, maxExcluded: s.exclusiveMaximum !== undefined }),
  });
}

export function validOf(s: Schema, formats: Formats = {}): fc.Arbitrary<unknown> {
  check(s);
  if ('const' in s) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  const alternatives = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
  if (alternatives) return fc.oneof(...alternatives.map((a) => validOf(a, formats)));
  const types = typesOf(s);
  if (!types) return fc.jsonValue({ maxDepth: 2 });
  if (types.length > 1) return fc.oneof(...types.map((type) => validOf({ ...s, type }, formats)));
  switch (types[0]) {
    case 'string':
      return stringOf(s, formats);
    case 'integer':
      return numberOf(s, true);
    case 'number':
      return numberOf(s, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'object': {
      const properties = (s.properties ?? {}) as Record<string, Schema>;
      const model = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, validOf(v, formats)]));
      return fc.record(model, { requiredKeys: (s.required ?? []) as string[] });
    }
    case 'array': {
      const item = validOf((s.items ?? {}) as Schema, formats);
      const bounds = {
        minLength: (s.minItems as number | undefined) ?? 0,
        maxLength: s.maxItems as number | undefined,
      };
      return s.uniqueItems
        ? fc.uniqueArray(item, { ...bounds, selector: (v) => JSON.stringify(v) })
        : fc.array(item, bounds);
    }
    default:
      throw new Error(`json-schema-arbitrary: unsupported type ${String(types[0])}`);
  }
}

/** Same keys, one value replaced: spread keeps an own "__proto__" key an own key. */
function withKey(value: unknown, key: string, replacement: unknown): Record<string, unknown> {
  return { ...(value as Record<string, unknown>), [key]: replacement };
}

function without(value: unknown, key: string): Record<string, unknown> {
  const copy = { ...(value as Record<string, unknown>) };
  delete copy[key];
  return copy;
}

function invalidString(s: Schema, formats: Formats): fc.Arbitrary<unknown>[] {
  const out: fc.Arbitrary<unknown>[] = [];
  const max = s.maxLength as number | undefined;
  if (max !== undefined) out.push(fc.integer({ min: max + 1, max: max + 20 }).map((n) => 'a'.repeat(n)));
  if (((s.minLength as number | undefined) ?? 0) > 0) out.push(fc.constant(''));
  if (typeof s.pattern === 'string' || typeof s.format === 'string') {
    // One character inserted anywhere, or the value surrounded by spaces (never trimmed).
    out.push(
      fc
        .tuple(stringOf(s, formats), fc.nat(), fc.constantFrom(...BREAKERS))
        .map(([v, at, c]) => `${v.slice(0, at % (v.length + 1))}${c}${v.slice(at % (v.length + 1))}`),
      stringOf(s, formats).map((v) => ` ${v} `),
    );
  }
  if (typeof s.pattern === 'string' && /\\s\*/.test(s.pattern)) out.push(fc.constantFrom('', ' ', ' \n\t '));
  return out;
}

function invalidNumber(s: Schema, integer: boolean): fc.Arbitrary<unknown>[] {
  const out: fc.Arbitrary<unknown>[] = [numberOf(s, integer).map((n) => String(n))];
  if (typeof s.minimum === 'number') out.push(fc.constant(s.minimum - 1));
  if (typeof s.exclusiveMinimum === 'number') out.push(fc.constantFrom(s.exclusiveMinimum, s.exclusiveMinimum - 0.5));
  if (typeof s.maximum === 'number') out.push(fc.constant(s.maximum + 1), fc.constant(s.maximum * 2));
  if (integer) out.push(numberOf(s, true).map((n) => n + 0.5));
  if (typeof s.multipleOf === 'number') out.push(numberOf(s, false).map((n) => n + (s.multipleOf as number) / 10));
  return out;
}

function invalidObject(s: Schema, formats: Formats): fc.Arbitrary<unknown>[] {
  const valid = validOf(s, formats);
  const properties = (s.properties ?? {}) as Record<string, Schema>;
  const required = (s.required ?? []) as string[];
  const out: fc.Arbitrary<unknown>[] = [];
  if (required.length > 0) out.push(fc.tuple(valid, fc.constantFrom(...required)).map(([v, key]) => without(v, key)));
  if (s.additionalProperties === false) {
    const extra = fc.constantFrom('__proto__', 'constructor', 'extra', 'isAdmin', 'Type');
    out.push(fc.tuple(valid, extra, fc.jsonValue({ maxDepth: 1 })).map(([v, key, x]) => withKey(v, key, x)));
  }
  const mutable = Object.entries(properties)
    .map(([key, schema]) => [key, invalidOf(schema, formats)] as const)
    .filter((entry): entry is readonly [string, fc.Arbitrary<unknown>] => entry[1] !== undefined);
  for (const [key, bad] of mutable) out.push(fc.tuple(valid, bad).map(([v, x]) => withKey(v, key, x)));
  return out;
}

function invalidArray(s: Schema, formats: Formats): fc.Arbitrary<unknown>[] {
  const item = validOf((s.items ?? {}) as Schema, formats);
  const out: fc.Arbitrary<unknown>[] = [];
  if (((s.minItems as number | undefined) ?? 0) > 0) out.push(fc.constant([]));
  if (typeof s.maxItems === 'number')
    out.push(item.map((v) => Array.from({ length: (s.maxItems as number) + 1 }, () => v)));
  if (s.uniqueItems) out.push(item.map((v) => [v, v]));
  const badItem = invalidOf((s.items ?? {}) as Schema, formats);
  if (badItem) out.push(fc.tuple(fc.array(item, { maxLength: 3 }), badItem).map(([items, bad]) => [...items, bad]));
  return out;
}

/** Values meant to break `s`, or undefined when nothing can (a schema that accepts anything). */
export function invalidOf(s: Schema, formats: Formats = {}): fc.Arbitrary<unknown> | undefined {
  check(s);
  const types = typesOf(s);
  const out: fc.Arbitrary<unknown>[] = [];
  if ('const' in s || Array.isArray(s.enum)) {
    const allowed = 'const' in s ? [s.const] : (s.enum as unknown[]);
    out.push(fc.constantFrom(...WRONG_TYPED, 'OTHER', 'like').filter((v) => !allowed.includes(v)));
  } else if (s.oneOf ?? s.anyOf) {
    const alternatives = ((s.oneOf ?? s.anyOf) as Schema[])
      .map((a) => invalidOf(a, formats))
      .filter((a) => a !== undefined);
    out.push(...alternatives);
  } else if (types) {
    // A value of a JSON type the schema does not allow ("integer" is also a "number").
    const wrong = WRONG_TYPED.filter(
      (v) => !types.includes(jsonType(v)) && !(jsonType(v) === 'integer' && types.includes('number')),
    );
    if (wrong.length > 0) out.push(fc.constantFrom(...wrong));
    for (const type of types) {
      const typed = { ...s, type };
      if (type === 'string') out.push(...invalidString(typed, formats));
      if (type === 'integer' || type === 'number') out.push(...invalidNumber(typed, type === 'integer'));
      if (type === 'object') out.push(...invalidObject(typed, formats));
      if (type === 'array') out.push(...invalidArray(typed, formats));
    }
  }
  return out.length === 0 ? undefined : fc.oneof(...out);
}
