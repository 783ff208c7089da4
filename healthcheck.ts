import { SERVICE_NAMES, loadConfig, servicePort } from './shared/config.js';
import { errorMessage } from './shared/errors.js';

/**
 * The container health check (the Dockerfile's HEALTHCHECK, docker-compose.yml): exits 0 when
 * the service SERVICE names answers 200 on /readyz, 1 otherwise. It reads the same variables as
 * the service, so it finds the port the service chose (PORT, else the per-service default)
 * without a port written into every compose entry. The image has no curl, and node is there.
 */
const PROBE_TIMEOUT_MS = 3_000;

/**
 * A service listening on every interface is reached on loopback (IPv4: a service that listens on
 * `::` by default takes IPv4 too); a named one where it listens.
 */
function probeHost(host: string | undefined): string {
  if (host === undefined || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

try {
  const config = loadConfig();
  const service = config.service;
  if (!service) throw new Error(`SERVICE must be set to one of: ${SERVICE_NAMES.join(', ')}`);
  const url = `http://${probeHost(config.http.host)}:${servicePort(config, service)}/readyz`;
  const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  const body = await res.text();
  if (!res.ok) throw new Error(`${url} answered ${res.status} ${body}`);
  process.stdout.write(`${url} ${body}\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`healthcheck: ${errorMessage(err)}\n`);
  process.exit(1);
}
