import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { infrastructurePids } from '../../bench/process-stats.js';
import { localPort, localPortsOf, pidsListeningOn } from '../../bench/proc-sockets.js';
import { testEnv } from '../helpers/config.js';

const { config } = testEnv('benchprocsockets');

/**
 * The benchmark samples the servers it talks to, found by the port they listen on; here the
 * real ones of this machine, checked against what the servers say about themselves.
 */
describe('bench/proc-sockets against the real servers', () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(config.redis.url, { lazyConnect: true });
  });
  after(() => redis.disconnect());

  it("finds Redis's own process by the port of REDIS_URL", async () => {
    await redis.connect();
    const processId = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
    assert.ok(processId > 0);
    const port = localPort(config.redis.url);
    assert.ok(port);
    assert.equal(pidsListeningOn([port]).get(port), processId);
    // A tree: its AOF-rewrite child counts with it.
    assert.deepEqual(infrastructurePids(config).redis, { tree: processId });
  });

  it('finds RabbitMQ and the MongoDB server by their ports, and PostgreSQL behind FerretDB as a tree', () => {
    const found = infrastructurePids(config);
    const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    assert.equal(typeof found.rabbitmq, 'number');
    assert.equal(comm(found.rabbitmq as number), 'beam.smp');
    const mongo = found.ferretdb ?? found.mongod ?? found.mongo;
    assert.equal(typeof mongo, 'number', `a process listens on MONGO_URL's port: ${JSON.stringify(found)}`);
    if (found.ferretdb !== undefined) assert.deepEqual(Object.keys(found.postgres ?? {}), ['tree']);
  });

  it("lists this process's client ports: the one its Redis connection comes from among them", async () => {
    if (redis.status !== 'ready') await redis.connect();
    // CLIENT INFO: `id=7 addr=127.0.0.1:41394 laddr=127.0.0.1:6379 ...`, addr being this client's end.
    const clientPort = Number(/ addr=\S+:(\d+) /.exec(` ${String(await redis.client('INFO'))}`)?.[1]);
    assert.ok(clientPort > 0);
    const ours = localPortsOf([process.pid]);
    assert.ok(ours.has(clientPort));
    assert.ok(!ours.has(localPort(config.redis.url) ?? 0), "the server's port is not one of the client's");
  });
});
