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
  flags?: { presence?: string; only?: boolean };
  allow?: unknown[];
  rules?: Rule[];
  keys?: Record<string, Description>;
}

function regexSource(serialized: string): string {
  const match = /^\/(.*)\/[a-z]*$/s.exec(serialized);
  if (!match?.[1]) throw new Error(`unexpected regex ${serialized}`);
  return match[1];
}

function stringSchema(rules: Rule[]): JsonSchema {
  const out: JsonSchema = { type: 'string' };
  for (const rule of rules) {
    const limit = rule.args?.limit;
    switch (rule.name) {
      case 'trim':
        break; // surrounding spaces are removed before the other rules apply
      case 'min':
        out.minLength = limit;
        break;
      case 'max':
        out.maxLength = limit;
        break;
      case 'length':
        out.minLength = limit;
        out.maxLength = limit;
        break;
      case 'pattern':
        out.pattern = regexSource(String(rule.args?.regex));
        break;
      case 'case':
        out.description = `converted to ${String(rule.args?.direction)} case`;
        break;
      default:
        throw new Error(`joi-to-openapi: unsupported string rule "${rule.name}"`);
    }
  }
  return out;
}

function numberSchema(rules: Rule[]): JsonSchema {
  const out: JsonSchema = { type: 'number' };
  for (const rule of rules) {
    switch (rule.name) {
      case 'sign':
        if (rule.args?.sign === 'positive') out.exclusiveMinimum = 0;
        else out.exclusiveMaximum = 0;
        break;
      case 'precision':
        out.description = `rounded to ${String(rule.args?.limit)} decimal places`;
        break;
      default:
        throw new Error(`joi-to-openapi: unsupported number rule "${rule.name}"`);
    }
  }
  return out;
}

function convert(d: Description): JsonSchema {
  if (d.flags?.only) {
    const values = d.allow ?? [];
    return values.length === 1 ? { const: values[0] } : { enum: values };
  }
  switch (d.type) {
    case 'string':
      return stringSchema(d.rules ?? []);
    case 'number':
      return numberSchema(d.rules ?? []);
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
