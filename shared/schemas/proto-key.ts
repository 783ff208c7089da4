import type { FieldProblem } from './event.js';

/** The path to the first own `__proto__` key, or undefined; built on the way back up. */
function protoKeyPath(input: unknown, deep: boolean): string[] | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  if (!Array.isArray(input) && Object.hasOwn(input, '__proto__')) return ['__proto__'];
  if (!deep) return undefined;
  for (const [key, value] of Object.entries(input)) {
    const below = protoKeyPath(value, deep);
    if (below) return [key, ...below];
  }
  return undefined;
}

/**
 * JSON.parse makes `"__proto__"` an own key, and Joi, which clones what it validates, never sees
 * it: an object schema that refuses unknown keys would let this one through. Every request body
 * validated with Joi is checked with this first, at any depth (`deep: false`: the top level only,
 * for an envelope whose items are validated, and reported, one by one).
 */
export function protoKeyProblem(input: unknown, { deep = true } = {}): FieldProblem | undefined {
  const path = protoKeyPath(input, deep);
  return path ? { field: path.join('.'), message: '"__proto__" is not allowed' } : undefined;
}
