import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { ROOT } from '../test/helpers/process.js';

/** Sockets per child: well under one process's RLIMIT_NOFILE (20,000 on the reference box). */
const SOCKETS_PER_CHILD = 5000;
const CHILD_SCRIPT = resolve(import.meta.dirname, 'idle-client-process.ts');

export type IdleParentMessage =
  | { type: 'connect'; port: number; secret: string; userIds: string[]; concurrency: number }
  | { type: 'count' }
  | { type: 'close' };

export type IdleChildMessage =
  | { type: 'ready' }
  | { type: 'connected'; authed: number; failures: number; firstFailure: string | null }
  | { type: 'count'; open: number; closedByServer: number };

function nextMessage<T extends IdleChildMessage['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<IdleChildMessage, { type: T }>> {
  return new Promise((resolvePromise, reject) => {
    const onMessage = (message: IdleChildMessage) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolvePromise(message as Extract<IdleChildMessage, { type: T }>);
    };
    const onExit = (code: number | null) =>
      reject(new Error(`idle client process exited (code ${code}) while waiting for "${type}"`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/**
 * Idle authenticated sockets spread over child processes (the connections scenario): one
 * process cannot hold 20,000 sockets, and worker threads share the process's fd table.
 * Each child reports its counts over IPC.
 */
export class IdleFleet {
  private readonly children: ChildProcess[] = [];

  constructor(
    private readonly wsPort: number,
    private readonly jwtSecret: string,
  ) {}

  /** Opens one socket per user, `concurrency` handshakes at a time across all children. */
  async connect(userIds: string[], concurrency: number) {
    const shares: string[][] = [];
    for (let i = 0; i < userIds.length; i += SOCKETS_PER_CHILD) shares.push(userIds.slice(i, i + SOCKETS_PER_CHILD));
    const perChild = Math.max(1, Math.ceil(concurrency / shares.length));
    const results = await Promise.all(
      shares.map(async (share) => {
        const child = fork(CHILD_SCRIPT, [], {
          cwd: ROOT,
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        this.children.push(child);
        await nextMessage(child, 'ready');
        const done = nextMessage(child, 'connected');
        child.send({
          type: 'connect',
          port: this.wsPort,
          secret: this.jwtSecret,
          userIds: share,
          concurrency: perChild,
        } satisfies IdleParentMessage);
        return done;
      }),
    );
    return {
      authed: results.reduce((sum, r) => sum + r.authed, 0),
      failures: results.reduce((sum, r) => sum + r.failures, 0),
      firstFailure: results.find((r) => r.firstFailure !== null)?.firstFailure ?? null,
      processes: shares.length,
    };
  }

  /** Sockets still open and authenticated, and how many the server closed, over all children. */
  async count(): Promise<{ open: number; closedByServer: number }> {
    const counts = await Promise.all(
      this.children.map((child) => {
        const reply = nextMessage(child, 'count');
        child.send({ type: 'count' } satisfies IdleParentMessage);
        return reply;
      }),
    );
    return {
      open: counts.reduce((s, c) => s + c.open, 0),
      closedByServer: counts.reduce((s, c) => s + c.closedByServer, 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.send({ type: 'close' } satisfies IdleParentMessage);
        await exited;
      }),
    );
    this.children.length = 0;
  }
}
