import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Redis as RedisServer } from 'ioredis';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { childEnv, ROOT } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';

const run = promisify(execFile);

/** A cluster node's bus port is its port + 10000 (Redis's fixed offset). */
const BUS_PORT_OFFSET = 10_000;

/** A port that is free, with its cluster bus port free too. */
async function freeNodePort(): Promise<number> {
  const listenOn = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const bound = (server.address() as { port: number }).port;
        server.close(() => resolve(bound));
      });
    });
  for (;;) {
    const port = await listenOn(0);
    if (port !== undefined && port + BUS_PORT_OFFSET < 65_536 && (await listenOn(port + BUS_PORT_OFFSET))) return port;
  }
}

/*
 * A TLS Redis Cluster whose certificate names its host, not its address, as managed clusters'
 * do (ElastiCache: *.cache.amazonaws.com), and whose nodes announce that hostname
 * (cluster-preferred-endpoint-type hostname). ioredis resolves a cluster's seed hostname to an IP
 * and then checks the certificate against the IP unless dnsLookup keeps the name: the consumer,
 * started the way it runs (its main.ts in a process of its own, the test's CA trusted through
 * NODE_EXTRA_CA_CERTS), must start against `rediss://localhost:<port>`. One node holding every
 * slot is a whole cluster as far as the client is concerned.
 */
const { env, config } = testEnv('redisclustertls');

describe('a TLS Redis Cluster whose certificate names the hostname', () => {
  let dir: string;
  let port: number;
  let node: ChildProcess | undefined;
  let consumer: ChildProcess | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'redis-cluster-tls-'));
    const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
    await openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=test-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    );
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-keyout',
      'srv.key',
      '-out',
      'srv.csr',
    );
    await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost\n');
    await openssl(
      'x509',
      '-req',
      '-in',
      'srv.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
      '-out',
      'srv.crt',
    );

    port = await freeNodePort();
    node = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--bind',
        '127.0.0.1',
        '-::1',
        '--tls-cert-file',
        join(dir, 'srv.crt'),
        '--tls-key-file',
        join(dir, 'srv.key'),
        '--tls-ca-cert-file',
        join(dir, 'ca.crt'),
        '--tls-auth-clients',
        'no',
        '--tls-cluster',
        'yes',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-announce-hostname',
        'localhost',
        '--cluster-preferred-endpoint-type',
        'hostname',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    // The test's own client names the CA itself; the service relies on the system's store.
    const admin = new RedisServer({
      host: 'localhost',
      port,
      tls: { ca: await readFile(join(dir, 'ca.crt')) },
      lazyConnect: true,
      retryStrategy: () => 100,
    });
    admin.on('error', () => undefined);
    try {
      await eventually(() => admin.connect().then(() => true), { what: 'the TLS node to accept connections' });
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      await eventually(async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), {
        what: 'the one-node cluster to be ok',
      });
    } finally {
      admin.disconnect();
    }
  });
  after(async () => {
    for (const child of [consumer, node]) {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
    await cleanupTestResources(config);
  });

  it('the consumer starts against rediss://localhost with REDIS_CLUSTER_NODES', async () => {
    const { REDIS_URL: _single, ...rest } = env;
    consumer = spawn(process.execPath, ['--import', 'tsx', 'consumer/main.ts'], {
      cwd: ROOT,
      env: childEnv({
        ...rest,
        REDIS_CLUSTER_NODES: `rediss://localhost:${port}`,
        NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt'),
        LOG_LEVEL: 'info',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    consumer.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    consumer.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const outcome = await eventually(
      () => {
        if (output.includes('consumer listening')) return 'listening';
        if (consumer!.exitCode !== null) return `exited ${consumer!.exitCode}`;
        return undefined;
      },
      { what: 'the consumer to listen or exit', timeoutMs: 60_000 },
    );
    assert.equal(outcome, 'listening', `the consumer's output:\n${output}`);
    assert.match(output, /redis ready/);
  });
});
