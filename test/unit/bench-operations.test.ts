import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  brokerDelta,
  nodeNameOf,
  otherClientBytes,
  parseGlobalCounters,
  sumManagement,
} from '../../bench/broker-counters.js';
import { formatOperations, operationsBetween, type OperationMark } from '../../bench/operations.js';
import {
  CommandStatsReader,
  countDelta,
  parseAofRewrites,
  parseCommandStats,
  topCounts,
} from '../../bench/redis-counters.js';

/** INFO commandstats as Redis 7.0 sends it (CRLF line ends, subcommands after a `|`). */
const COMMANDSTATS = [
  '# Commandstats',
  'cmdstat_evalsha:calls=199,usec=9000,usec_per_call=45.23,rejected_calls=0,failed_calls=0',
  'cmdstat_get:calls=159,usec=320,usec_per_call=2.01,rejected_calls=0,failed_calls=0',
  'cmdstat_client|setname:calls=4,usec=8,usec_per_call=2.00,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=7,usec=700,usec_per_call=100.00,rejected_calls=0,failed_calls=0',
  '',
].join('\r\n');

/** What GLOBAL_COUNTERS_EVAL prints through `rabbitmqctl -q eval` (bench/broker-counters.ts). */
const GLOBAL_COUNTERS = `counter consumers 13
counter messages_acknowledged_total 2205
counter messages_confirmed_total 2343
counter messages_dead_lettered_confirmed_total 4
counter messages_dead_lettered_expired_total 311
counter messages_dead_lettered_rejected_total 2
counter messages_delivered_total 2290
counter messages_received_total 2343
counter messages_redelivered_total 41
counter messages_routed_total 2343
counter publishers -86
connection 127.0.0.1 48448 460
connection ::1 48450 1200
ok
`;

describe('bench operation counts: parsing the servers’ counters', () => {
  it('reads calls per command from INFO commandstats', () => {
    assert.deepEqual(parseCommandStats(COMMANDSTATS), { evalsha: 199, get: 159, 'client|setname': 4, info: 7 });
  });

  it('reads the AOF rewrites from INFO persistence, null where the server does not say', () => {
    assert.equal(
      parseAofRewrites('# Persistence\r\naof_enabled:1\r\naof_rewrites:34\r\naof_rewrites_consecutive_failures:0\r\n'),
      34,
    );
    assert.equal(parseAofRewrites(COMMANDSTATS), null);
  });

  it('subtracts the INFO of each earlier snapshot from a span of Redis commands', () => {
    const before = { calls: { evalsha: 10, get: 5, info: 3 }, aofRewrites: null, ownInfosBefore: 0 };
    // Two snapshots taken in between (a `max` run's steps): three own INFOs counted by the last one.
    const after = { calls: { evalsha: 30, get: 5, set: 4, info: 6 }, aofRewrites: null, ownInfosBefore: 3 };
    assert.deepEqual(CommandStatsReader.delta(before, after), { evalsha: 20, set: 4 });
    const otherClientInfo = { calls: { ...after.calls, info: 8 }, aofRewrites: null, ownInfosBefore: 3 };
    assert.deepEqual(
      CommandStatsReader.delta(before, otherClientInfo),
      { evalsha: 20, set: 4, info: 2 },
      "another client's INFO stays",
    );
  });

  it('keeps per-name differences and the largest counts first', () => {
    assert.deepEqual(countDelta({ a: 1, b: 2 }, { a: 1, b: 5, c: 1 }), { b: 3, c: 1 });
    assert.deepEqual(Object.entries(topCounts({ a: 1, b: 5, c: 3, d: 5 }, 3)), [
      ['b', 5],
      ['d', 5],
      ['c', 3],
    ]);
  });

  it('sums the run’s queues and exchanges from the management API: a fan-out publish counts once, other runs not at all', () => {
    const queues = [
      { name: 'bench.r1.notify.events', message_stats: { publish: 10, deliver_get: 12, redeliver: 2, ack: 10 } },
      // Two ws-server queues bound to the wake exchange: 5 wakes published, 10 copies routed.
      { name: 'bench.r1.notify.wake.a', message_stats: { publish: 5, deliver_get: 5, ack: 0 } },
      { name: 'bench.r1.notify.wake.b', message_stats: { publish: 5, deliver_get: 5, ack: 0 } },
      { name: 'bench.r1.notify.acks' },
      { name: 'bench.r2.notify.events', message_stats: { publish: 1000, deliver_get: 1000, ack: 1000 } },
    ];
    const exchanges = [
      { name: '', message_stats: { publish_in: 1010, publish_out: 1010 } },
      { name: 'bench.r1.notify.wake', message_stats: { publish_in: 5, publish_out: 10 } },
    ];
    assert.deepEqual(sumManagement(queues, exchanges, 'bench.r1.'), {
      source: 'management',
      publishes: 15,
      deliveries: 22,
      redeliveries: 2,
      acks: 10,
      deadLettered: null,
    });
  });

  it('reads the global counters and the client connections from rabbitmqctl eval', () => {
    assert.deepEqual(parseGlobalCounters(GLOBAL_COUNTERS), {
      source: 'rabbitmqctl',
      publishes: 2343,
      deliveries: 2290,
      redeliveries: 41,
      acks: 2205,
      // Expired and rejected; "confirmed" is a subset of the at-least-once ones.
      deadLettered: 313,
      connections: { '127.0.0.1:48448': 460, '::1:48450': 1200 },
    });
    assert.throws(
      () => parseGlobalCounters('Error: unable to perform an operation on node'),
      /printed no global counters/,
    );
  });

  it('counts the bytes of connections that are not the run’s, so broker-wide counts show when others were counted', () => {
    const before = { '127.0.0.1:40001': 1000, '127.0.0.1:40002': 500, '10.0.0.7:40001': 100 };
    const after = { '127.0.0.1:40001': 9000, '127.0.0.1:40002': 508, '10.0.0.7:40001': 300, '127.0.0.1:40003': 64 };
    // 40001 is a service's; 40002 sent one heartbeat; the remote client shares a port number only; 40003 is new.
    assert.equal(otherClientBytes(before, after, new Set([40001])), 8 + 200 + 64);
    const snapshot = parseGlobalCounters(GLOBAL_COUNTERS);
    const later = {
      ...snapshot,
      publishes: snapshot.publishes + 30,
      connections: { '127.0.0.1:48448': 9460, '::1:48450': 1200 },
    };
    assert.deepEqual(brokerDelta(snapshot, later, new Set([48448])), {
      source: 'rabbitmqctl',
      scope: 'broker',
      otherClientBytes: 0,
      publishes: 30,
      deliveries: 0,
      redeliveries: 0,
      acks: 0,
      deadLettered: 0,
    });
  });

  it('finds the RabbitMQ node name on the command line, else in the environment', () => {
    assert.equal(
      nodeNameOf(['beam.smp', '-sname', 'rabbit@host', '-noshell'], ['RABBITMQ_NODENAME=other@x']),
      'rabbit@host',
    );
    assert.equal(
      nodeNameOf(['beam.smp', '-noshell'], ['HOME=/root', 'RABBITMQ_NODENAME=notif@localhost']),
      'notif@localhost',
    );
    assert.equal(nodeNameOf(['beam.smp'], ['HOME=/root']), undefined);
  });
});

describe('bench operation counts: per event over a span', () => {
  const mark = (overrides: Partial<OperationMark>): OperationMark => ({
    clientPorts: [],
    cpuMs: {},
    machineBusyMs: 0,
    atMs: 0,
    ...overrides,
  });
  const start = mark({
    broker: {
      source: 'rabbitmqctl',
      publishes: 100,
      deliveries: 100,
      redeliveries: 0,
      acks: 90,
      deadLettered: 10,
      connections: { '127.0.0.1:40001': 0 },
    },
    commandStats: { calls: { evalsha: 50, get: 20, info: 1 }, aofRewrites: 3, ownInfosBefore: 0 },
    requests: { consumer: { evalsha: 30, mget: 10 }, 'ws-server': { evalsha: 20 } },
    jobs: { bulkWrites: 2, inserted: 100 },
    clientPorts: [40001],
    cpuMs: { consumer: 0, rabbitmq: 0 },
  });
  const end = mark({
    broker: {
      source: 'rabbitmqctl',
      publishes: 400,
      deliveries: 420,
      redeliveries: 20,
      acks: 390,
      deadLettered: 110,
      connections: { '127.0.0.1:40001': 99999 },
    },
    commandStats: { calls: { evalsha: 350, get: 320, info: 2 }, aofRewrites: 5, ownInfosBefore: 1 },
    requests: { consumer: { evalsha: 230, mget: 110 }, 'ws-server': { evalsha: 120 } },
    jobs: { bulkWrites: 4, inserted: 200 },
    clientPorts: [40001],
    cpuMs: { consumer: 150, rabbitmq: 90 },
    machineBusyMs: 400,
    atMs: 20_000,
  });

  it('divides every difference by the span’s events', () => {
    const o = operationsBetween(start, end, 100, 'event');
    assert.equal(o.events, 100);
    assert.equal(o.seconds, 20);
    assert.deepEqual(o.perEvent, {
      brokerPublishes: 3,
      brokerDeliveries: 3.2,
      redisRequests: 4,
      redisCommands: 6,
      cpuMs: { consumer: 1.5, rabbitmq: 0.9, machine: 4 },
    });
    assert.equal(o.mongoWritesPerNotification, 0.02);
    assert.deepEqual(o.redis, {
      requests: 400,
      requestsPerEventByService: { consumer: 3, 'ws-server': 1 },
      topRequests: { evalsha: 300, mget: 100 },
      commands: 600,
      topCommands: { evalsha: 300, get: 300 },
      aofRewrites: 2,
    });
    assert.deepEqual(o.broker, {
      source: 'rabbitmqctl',
      scope: 'broker',
      otherClientBytes: 0,
      publishes: 300,
      deliveries: 320,
      redeliveries: 20,
      acks: 300,
      deadLettered: 100,
      perEvent: { redeliveries: 0.2, acks: 3, deadLettered: 1 },
    });
    assert.match(
      formatOperations(o),
      /^per event \(100 in 20 s\): broker 3\.00 publishes, 3\.20 deliveries \(rabbitmqctl: whole broker, other clients 0 B\); Redis 4\.00 requests, 6\.00 commands, 2 AOF rewrites; .*CPU ms: machine 4\.00 \(consumer 1\.50, rabbitmq 0\.90\)$/,
    );
  });

  it('gives null, not a number, for what could not be read or has no events', () => {
    const o = operationsBetween(mark({}), mark({ atMs: 1000 }), 0, 'event');
    assert.deepEqual(o.perEvent, {
      brokerPublishes: null,
      brokerDeliveries: null,
      redisRequests: null,
      redisCommands: null,
      cpuMs: { machine: null },
    });
    assert.equal(o.mongoWritesPerNotification, null);
    assert.deepEqual(o.broker, { source: null });
    assert.equal(o.redis.requests, null);
    assert.match(formatOperations(o), /broker \? publishes, \? deliveries \(no broker counters\)/);
  });
});
