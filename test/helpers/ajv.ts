import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';

/** The CommonJS plugin's function, whichever way the ESM loader hands it over. */
const addFormats = ((addFormatsPlugin as unknown as { default?: unknown }).default ?? addFormatsPlugin) as (
  ajv: Ajv2020,
) => void;

/** Decimal places of a number as JSON writes it (its shortest form): 12.5 → 1, 1e-7 → 7. */
function decimals(n: number): number {
  const [, fraction = '', exponent = '0'] = /^-?\d+(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(String(n)) ?? [];
  return Math.max(fraction.length - Number(exponent), 0);
}

/** `n` is a multiple of `step` as decimals: exact for a step of 10^-k, the only kind the API uses. */
function isMultipleOf(step: number, n: unknown): boolean {
  if (typeof n !== 'number') return true;
  const places = decimals(step);
  if (places === 0) return n % step === 0;
  if (step !== 10 ** -places) throw new Error(`ajv: multipleOf ${step} is not a power of ten`);
  return decimals(n) <= places;
}

/**
 * JSON Schema 2020-12 (OpenAPI 3.1's dialect) with its formats. OpenAPI's own keywords
 * (discriminator, example) are annotations here. `multipleOf` is the number as written: ajv
 * divides doubles, and 0.28 / 0.01 is not whole.
 */
export function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  ajv.removeKeyword('multipleOf');
  ajv.addKeyword({ keyword: 'multipleOf', type: 'number', schemaType: 'number', validate: isMultipleOf });
  return ajv;
}
