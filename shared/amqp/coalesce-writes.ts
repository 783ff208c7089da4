import { Socket } from 'node:net';

/**
 * One socket write per turn of the event loop instead of one per AMQP frame.
 *
 * amqplib hands every frame it has queued to the socket with its own `write`: a batch's acks, the
 * publishes of the HTTP requests that arrived together, each one a system call, and each one a
 * read and a parse for the broker. Measured (docs/performance.md "Fourth look"), the broker's CPU
 * per event falls by 0.01-0.05 ms; the services' own share moves within the noise (the kernel is
 * a small part of their time, "Fifth look"). Corking the socket on
 * the first write of a turn and uncorking it once the turn's synchronous work is done (the
 * `process.nextTick` queue) hands the kernel all of that turn's frames in one `writev`, in the
 * same order, and adds no wait: nothing is held past the current turn.
 */
export function coalesceWrites(socket: Socket): void {
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  const write = socket.write;
  socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Socket['write'];
}

/**
 * The socket under an amqplib connection: amqplib keeps it as `connection.stream`, which its
 * types do not declare. Undefined when a later amqplib moves it; the caller then says so in its
 * log and the connection writes frame by frame, as before.
 */
export function socketOf(model: unknown): Socket | undefined {
  const stream = (model as { connection?: { stream?: unknown } }).connection?.stream;
  return stream instanceof Socket ? stream : undefined;
}
