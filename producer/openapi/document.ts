import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** Where docs/openapi.yaml is from this module, run from source (tsx) or from dist/. */
const CANDIDATES = ['../../docs/openapi.yaml', '../../../docs/openapi.yaml'];

export function openApiPath(): string {
  for (const candidate of CANDIDATES) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error('docs/openapi.yaml not found next to the build');
}

/** The API description the producer serves at /openapi.json and renders at /docs. */
export function loadOpenApi(): Record<string, unknown> {
  return parse(readFileSync(openApiPath(), 'utf8')) as Record<string, unknown>;
}
