import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { bundleBrowserClient } from '../ws-server/client-script.js';

/**
 * `npm run build`'s last step: the browser bundle of the client, dist/client/browser.js, which
 * the built ws-server serves at `/client.js` (ws-server/client-script.ts).
 */
const out = 'dist/client/browser.js';
await mkdir(dirname(out), { recursive: true });
await writeFile(out, await bundleBrowserClient());
console.log(`wrote ${out}`);
