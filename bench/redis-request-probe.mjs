// Preloaded into every service of a benchmark run (NODE_OPTIONS --import, see bench/stack.ts):
// counts the Redis commands the process sends, by name, and answers GET on the Unix socket
// BENCH_REDIS_PROBE_SOCKET with them as JSON. Plain JavaScript so the services need no tsx.
//
// Why the client side: Redis 7 counts the commands a Lua script calls in INFO commandstats and
// in total_commands_processed alike (an EVALSHA running three redis.call adds 4 to both), so
// neither tells the requests the clients sent from the commands the server ran.
import { createServer } from 'node:http';
import { rmSync } from 'node:fs';
import process from 'node:process';
import { Redis } from 'ioredis';

const counts = Object.create(null);
const send = Redis.prototype.sendCommand;

// ioredis passes a command through sendCommand again when it flushes its offline queue or
// resends after a reconnect; it marks a command `isTraced` the first time one is written to the
// socket, so a command counts once, when it first leaves. (Without the flag, every call counts.)
Redis.prototype.sendCommand = function countedSendCommand(command, stream) {
  const written = command.isTraced;
  const result = send.call(this, command, stream);
  if (written === undefined ? true : !written && command.isTraced)
    counts[command.name] = (counts[command.name] ?? 0) + 1;
  return result;
};

const path = process.env.BENCH_REDIS_PROBE_SOCKET;
if (path) {
  rmSync(path, { force: true });
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(counts));
  });
  server.listen(path);
  // Never what keeps a service alive at shutdown.
  server.unref();
}
