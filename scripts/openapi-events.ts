/**
 * Regenerates the event body schemas in docs/openapi.yaml from the Joi schemas
 * (shared/schemas/event.ts). Run after changing an event schema: `npx tsx scripts/openapi-events.ts`.
 * test/integration/openapi.test.ts fails while the two differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { openApiPath } from '../producer/openapi/document.js';
import { eventComponents } from '../producer/openapi/event-components.js';

const path = openApiPath();
const doc = parseDocument(readFileSync(path, 'utf8'));
for (const [name, schema] of Object.entries(eventComponents()))
  doc.setIn(['components', 'schemas', name], doc.createNode(schema));
writeFileSync(path, doc.toString({ lineWidth: 120 }));
process.stdout.write(`updated ${path}\n`);
