import type Joi from 'joi';

/**
 * Turns the event Joi schemas into OpenAPI 3.1 (JSON Schema) objects, so docs/openapi.yaml's
 * event bodies are generated from the one definition (scripts/openapi-events.ts) and a test
 * fails when the two drift. Covers the Joi features shared/schemas/event.ts uses; anything
 * else throws, so a new rule cannot be silently left out of the docs.
 */

export type JsonSchema = Record<string, unknown>;

interface Rule {
  name: string;
  args?: Record<string, unknown>;
}

interface Description {
  type: string;
  flags?: { presence?: string; only?: boolean; description?: string; unsafe?: boolean };
  preferences?: { convert?: boolean };
  allow?: unknown[];
  rules?: Rule[];
  keys?: Record<string, Description>;
}

function regexSource(serialized: string): string {
  const match = /^\/(.*)\/[a-z]*$/s.exec(serialized);
  if (!match?.[1]) throw new Error(`unexpected regex ${serialized}`);
  return match[1];
}

/**
 * Joi trims before its other rules, so with `trim` a length is the trimmed string's: written as a
 * pattern, the text between the first and the last non-space character (JavaScript's `\s` is
 * exactly what String.prototype.trim removes). The pattern counts code points where Joi counts
 * UTF-16 units, so a character past U+FFFF counts twice for the server; the description says so.
 */
function trimmedLength(min: number, max: number): JsonSchema {
  if (min > max || max < 1) throw new Error(`joi-to-openapi: unsupported trimmed length ${min}..${max}`);
  const inner = min <= 1 ? `\\S(?:[\\s\\S]{0,${max - 2}}\\S)?` : `\\S[\\s\\S]{${min - 2},${max - 2}}\\S`;
  return {
    pattern: `^\\s*${max === 1 ? '\\S' : inner}\\s*$`,
    description: `surrounding whitespace is trimmed; then ${Math.max(min, 1)} to ${max} characters (UTF-16 code units)`,
  };
}

function stringSchema(rules: Rule[]): JsonSchema {
  let pattern: string | undefined;
  const trim = rules.some((r) => r.name === 'trim' && r.args?.enabled !== false);
  let min = 0;
  let max: number | undefined;
  for (const rule of rules) {
    const limit = rule.args?.limit;
    switch (rule.name) {
      case 'trim':
        break; // applied to the lengths below
      case 'min':
        min = Number(limit);
        break;
      case 'max':
        max = Number(limit);
        break;
      case 'length':
        min = Number(limit);
        max = Number(limit);
        break;
      case 'pattern':
        // A trimmed value's pattern would need rewriting to allow the spaces around it.
        if (trim) throw new Error('joi-to-openapi: trim with a pattern is not supported');
        pattern = regexSource(String(rule.args?.regex));
        break;
      default:
        throw new Error(`joi-to-openapi: unsupported string rule "${rule.name}"`);
    }
  }
  if (trim) {
    if (max === undefined) throw new Error('joi-to-openapi: a trimmed string needs a max');
    return { type: 'string', ...trimmedLength(min, max) };
  }
  // Joi refuses the empty string unless allowed, whatever min says.
  const out: JsonSchema = { type: 'string', minLength: Math.max(min, 1) };
  if (max !== undefined) out.maxLength = max;
  if (pattern !== undefined) out.pattern = pattern;
  return out;
}

function numberSchema(d: Description): JsonSchema {
  const out: JsonSchema = { type: 'number' };
  const strict = d.preferences?.convert === false;
  // Without strict(), Joi would also take "12.5" (a string) and round, which no schema can say.
  if (!strict) throw new Error('joi-to-openapi: a number must be strict() (no conversion) to be documented exactly');
  for (const rule of d.rules ?? []) {
    switch (rule.name) {
      case 'sign':
        if (rule.args?.sign === 'positive') out.exclusiveMinimum = 0;
        else out.exclusiveMaximum = 0;
        break;
      case 'precision':
        out.multipleOf = 10 ** -Number(rule.args?.limit);
        break;
      default:
        throw new Error(`joi-to-openapi: unsupported number rule "${rule.name}"`);
    }
  }
  // Joi refuses numbers a double cannot hold exactly as integers ("must be a safe number").
  if (!d.flags?.unsafe) {
    if (out.exclusiveMaximum === undefined) out.maximum = Number.MAX_SAFE_INTEGER;
    if (out.exclusiveMinimum === undefined) out.minimum = Number.MIN_SAFE_INTEGER;
  }
  return out;
}

function convert(d: Description): JsonSchema {
  if (d.flags?.only) {
    const values = d.allow ?? [];
    return values.length === 1 ? { const: values[0] } : { enum: values };
  }
  const described = (schema: JsonSchema): JsonSchema => {
    const note = [d.flags?.description, schema.description].filter(Boolean).join('; ');
    return note ? { ...schema, description: note } : schema;
  };
  switch (d.type) {
    case 'string':
      return described(stringSchema(d.rules ?? []));
    case 'number':
      return described(numberSchema(d));
    case 'object': {
      const keys = d.keys ?? {};
      const required = Object.keys(keys).filter((k) => keys[k]?.flags?.presence === 'required');
      const properties = Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, convert(v)]));
      return { type: 'object', additionalProperties: false, required, properties };
    }
    default:
      throw new Error(`joi-to-openapi: unsupported type "${d.type}"`);
  }
}

export function joiToOpenApi(schema: Joi.Schema): JsonSchema {
  return convert(schema.describe() as Description);
}
