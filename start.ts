import { SERVICE_NAMES, loadConfig } from './shared/config.js';
import { errorMessage } from './shared/errors.js';

/**
 * `SERVICE=<name> npm start` (Railway): one build, four deployable services. Each main module
 * wires its own process, so importing it is starting it.
 */
let service: string | undefined;
try {
  service = loadConfig().service;
} catch (err) {
  process.stderr.write(`${errorMessage(err)}\n`);
  process.exit(1);
}
if (!service) {
  process.stderr.write(`SERVICE must be set to one of: ${SERVICE_NAMES.join(', ')}\n`);
  process.exit(1);
}
await import(`./${service}/main.js`);
