import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  listeningInodes,
  localPort,
  parentPid,
  parseTcpTable,
  rootHolder,
  socketInode,
} from '../../bench/proc-sockets.js';

/** /proc/net/tcp as the kernel prints it: a LISTEN socket on 127.0.0.1:6379, one on 0.0.0.0:5672, a client connection from port 6379's neighbour, a dying socket. */
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 21977 1 0000000000000000 100 0 0 10 0
   1: 00000000:1628 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 22011 1 0000000000000000 100 0 0 10 0
   2: 0100007F:A1B2 0100007F:18EB 01 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:18EB 0100007F:A1B3 06 00000000:00000000 03:00000A8C 00000000     0        0 0 3 0000000000000000
`;

/** /proc/net/tcp6: a LISTEN socket on [::]:27017 and one on [::1]:6379 (an IPv6 copy of the Redis listener). */
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:6989 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 21978 1 0000000000000000 100 0 0 10 0
`;

describe('bench/proc-sockets: which process owns a TCP socket, from /proc text', () => {
  it('parses the socket tables of both address families, leaving out sockets no descriptor owns', () => {
    assert.deepEqual(parseTcpTable(TCP), [
      { localPort: 6379, state: '0A', inode: 21977 },
      { localPort: 5672, state: '0A', inode: 22011 },
      { localPort: 41394, state: '01', inode: 31337 },
    ]);
    assert.deepEqual(parseTcpTable(TCP6), [
      { localPort: 27017, state: '0A', inode: 40001 },
      { localPort: 6379, state: '0A', inode: 21978 },
    ]);
    assert.deepEqual(parseTcpTable(''), []);
  });

  it('finds the LISTEN sockets on a port (IPv4 and IPv6), never a connection from or to it', () => {
    const sockets = [...parseTcpTable(TCP), ...parseTcpTable(TCP6)];
    assert.deepEqual(listeningInodes(sockets, 6379), [21977, 21978]);
    assert.deepEqual(listeningInodes(sockets, 5672), [22011]);
    assert.deepEqual(listeningInodes(sockets, 27017), [40001]);
    assert.deepEqual(listeningInodes(sockets, 41394), [], 'an established socket is not a listener');
    assert.deepEqual(listeningInodes(sockets, 5433), []);
  });

  it('reads a socket inode from a descriptor link, and nothing from other links', () => {
    assert.equal(socketInode('socket:[21977]'), 21977);
    assert.equal(socketInode('pipe:[21977]'), undefined);
    assert.equal(socketInode('/var/lib/redis/dump.rdb'), undefined);
    assert.equal(socketInode('anon_inode:[eventpoll]'), undefined);
  });

  it('reads the parent PID from /proc/<pid>/stat, whatever the command name holds', () => {
    assert.equal(parentPid('17897 (postgres) S 1 17897 17897 0 -1 4194560 ...'), 1);
    assert.equal(parentPid('18388 (postgres: a) b (c) S 17897 18388 18388 0 -1 ...'), 17897);
  });

  it('names a server whose forked workers inherit its socket by the root of the tree', () => {
    assert.equal(rootHolder(new Map([[500, 1]])), 500);
    assert.equal(
      rootHolder(
        new Map([
          [510, 500],
          [500, 1],
          [520, 500],
        ]),
      ),
      500,
    );
    assert.equal(rootHolder(new Map()), undefined);
  });

  it('takes the port from a server URL on this machine, the scheme default when it names none, nothing for another host', () => {
    assert.equal(localPort('amqp://guest:guest@127.0.0.1:5699'), 5699);
    assert.equal(localPort('amqp://guest:guest@localhost'), 5672);
    assert.equal(localPort('redis://127.0.0.1:6379'), 6379);
    assert.equal(localPort('redis://[::1]'), 6379);
    assert.equal(localPort('mongodb://127.0.0.1/bench_x?maxPoolSize=20'), 27017);
    assert.equal(localPort('redis://cache.example.com:6379'), undefined);
  });
});
