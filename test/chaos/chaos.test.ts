import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { signUserToken } from '../../shared/auth/jwt.js';
import { loadConfig } from '../../shared/config.js';
import { ensureIndexes, models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { ClientFleet } from '../helpers/faults/clients.js';
import { printTable, type ScenarioRow } from '../helpers/faults/ledger.js';
import { ServiceProcesses, type Slot } from '../helpers/faults/processes.js';
import { assertCleanShutdown, assertLedger, deadLetters, runScenario } from '../helpers/faults/scenario.js';
import { FAULT_SUITE_SETTINGS } from '../helpers/faults/options.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';
import { CHAOS_SERVERS, CHAOS_URLS, chaosInfra, type Server } from './infra.js';
import { chaosOptions, chaosQueueType, pickScenarios } from './options.js';

/*
 * The fault-injection suite: the four services as separate built processes (two ws-servers)
 * on the suite's own RabbitMQ/Redis/FerretDB (on PostgreSQL), 200 clients on the project's client
 * library (client/) that ACK what they get (a few lose their socket at random every second and
 * the client reconnects and resumes), and a steady stream of events per
 * scenario with one fault injected mid-stream: 7 × 3,600 events at 240/s, ten times the rate the
 * suite ran at before the hot path was made batch-native (issue #15). Until FerretDB's pool
 * settings and jobs' update shape were fixed, "restart RabbitMQ" at this rate wedged the local
 * FerretDB (docs/persistence.md "FerretDB waits forever for a connection").
 * Processes, clients, load and ledger are test/helpers/faults/, which the cluster suite
 * (test/cluster) shares.
 */
const CLIENTS = 200;
// CHAOS_EVENTS / CHAOS_RATE / CHAOS_SCENARIOS, for working on one fault at another volume (test/chaos/options.ts).
const options = chaosOptions();
const EVENTS_PER_SCENARIO = options.eventsPerScenario;
const EVENTS_PER_SECOND = options.eventsPerSecond;
const FAULT_AFTER_MS = 5000;

const JWT_SECRET = 'chaos-secret-that-is-long-enough-for-hs256-0123456789';
const env: Record<string, string> = {
  ...CHAOS_URLS,
  NODE_ENV: 'test',
  AMQP_QUEUE_TYPE: chaosQueueType(),
  LOG_LEVEL: 'info',
  HTTP_HOST: '127.0.0.1',
  PRODUCER_PORT: '0',
  CONSUMER_PORT: '0',
  WS_PORT: '0',
  JOBS_PORT: '0',
  AMQP_NAME_PREFIX: 'chaos.',
  REDIS_KEY_PREFIX: 'chaos:',
  ...FAULT_SUITE_SETTINGS,
  JWT_SECRET,
};
const config = loadConfig(env);
const users = Array.from({ length: CLIENTS }, (_, i) => `chaosuser${i + 1}`);

const LAYOUT = { producer: 1, consumer: 1, jobs: 1, 'ws-server': 2 };

async function restartProcess(processes: ServiceProcesses, slot: Slot, pauseMs: number): Promise<void> {
  await processes.kill(slot);
  await sleep(pauseMs);
  await processes.start(slot);
}

async function readyz(port: number | undefined): Promise<number> {
  if (port === undefined) return 0;
  return fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.status,
    () => 0,
  );
}

/**
 * Stops one server, checks that the services notice (a /readyz turns 503) but stay up, starts it
 * again and checks that every service is ready again on its own.
 */
async function restartServer(processes: ServiceProcesses, server: Server): Promise<void> {
  await chaosInfra.down([server]);
  const watched: Slot = server === 'mongodb' ? 'jobs#0' : 'consumer#0';
  await eventually(async () => (await readyz(processes.port(watched))) === 503, {
    what: `${watched} /readyz to say 503`,
    timeoutMs: 30_000,
  });
  await chaosInfra.up([server]);
  for (const slot of processes.slots) {
    await eventually(async () => (await readyz(processes.port(slot))) === 200, {
      what: `${slot} /readyz 200 again`,
      timeoutMs: 60_000,
      intervalMs: 500,
    });
  }
}

describe('fault injection: nothing accepted is lost, nothing acked is shown again', { timeout: 25 * 60_000 }, () => {
  const processes = new ServiceProcesses(env, `${CHAOS_SERVERS.SERVICES_DATA_DIR}/logs/services`, LAYOUT);
  const tokens = new Map<string, Promise<string>>();
  const fleet = new ClientFleet(users, {
    ports: () => processes.wsPorts(),
    token: (u) => {
      if (!tokens.has(u)) tokens.set(u, signUserToken(u, JWT_SECRET, 3600));
      return tokens.get(u)!;
    },
  });
  const rows: ScenarioRow[] = [];
  let mongo: Connection;
  let m: Models;
  let redis: Redis;

  before(async () => {
    await chaosInfra.fresh();
    await cleanupTestResources(config); // queues an earlier, interrupted run left in the broker
    // The suite's own reads (the ledger's reconciliation) check thousands of notifications with
    // `$in`, which FerretDB answers by scanning the collection: they get a verifier's deadline,
    // not the services' MONGO_QUERY_TIMEOUT_MS.
    mongo = await connectMongo({ ...config, mongo: { ...config.mongo, queryTimeoutMs: 120_000 } }, testLogger);
    m = models(mongo);
    await ensureIndexes(m);
    redis = await connectRedis(config, testLogger);
    await processes.startAll();
    fleet.connectAll();
    await eventually(() => fleet.readyCount() === CLIENTS, {
      what: `${CLIENTS} authenticated clients`,
      timeoutMs: 60_000,
    });
    fleet.startChurn(0.005);
  });

  after(async () => {
    await fleet.stop();
    const codes = await processes.stopAll();
    console.log(
      `\nchaos results (${CLIENTS} clients, ${EVENTS_PER_SCENARIO} events per scenario)\n${printTable(rows)}\n`,
    );
    const output = processes.output();
    await mongo?.close();
    if (redis) await closeRedis(redis);
    await cleanupTestResources(config).catch(() => undefined);
    await chaosInfra.down();
    assertCleanShutdown(codes, output, [JWT_SECRET, 'guest:guest', 'eyJ']);
  });

  const scenarios: { name: string; inject(): Promise<void> }[] = [
    { name: 'SIGKILL consumer', inject: () => restartProcess(processes, 'consumer#0', 3000) },
    { name: 'SIGKILL ws-server#0', inject: () => restartProcess(processes, 'ws-server#0', 3000) },
    { name: 'SIGKILL jobs mid-batch', inject: () => restartProcess(processes, 'jobs#0', 2000) },
    { name: 'SIGKILL producer', inject: () => restartProcess(processes, 'producer#0', 2000) },
    { name: 'restart RabbitMQ', inject: () => restartServer(processes, 'rabbitmq') },
    { name: 'restart Redis (AOF)', inject: () => restartServer(processes, 'redis') },
    { name: 'restart MongoDB (FerretDB + PostgreSQL)', inject: () => restartServer(processes, 'mongodb') },
  ];

  // CHAOS_SCENARIOS=2,5 runs only those (1-based), for working on one fault.
  for (const [i, scenario] of pickScenarios(scenarios, options.scenarios)) {
    it(scenario.name, async () => {
      const setup = {
        processes,
        fleet,
        users,
        models: m,
        redis,
        eventsPerScenario: EVENTS_PER_SCENARIO,
        eventsPerSecond: EVENTS_PER_SECOND,
        faultAfterMs: FAULT_AFTER_MS,
      };
      const row = await runScenario(setup, scenario.name, `s${i}${Date.now().toString(36)}`, scenario.inject);
      rows.push(row);
      console.log(printTable([row]));
      assertLedger(row, processes);
      assert.deepEqual(Object.values(await deadLetters(config)), [0, 0], 'dead-letter queues stay empty');
    });
  }
});
