import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import type { ServiceName } from '../../shared/config.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BUILT_START = resolve(ROOT, 'dist/start.js');

export interface RunningService {
  name: ServiceName;
  proc: ChildProcess;
  /** The port the service reported in its "listening" log line (services run on port 0). */
  port: number;
  output(): string;
  /** Sends the signal and resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Captured stdout+stderr of a child, for assertions and for failure messages. */
function capture(proc: ChildProcess): () => string {
  const chunks: string[] = [];
  proc.stdout?.on('data', (d: Buffer) => chunks.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => chunks.push(d.toString()));
  return () => chunks.join('');
}

/**
 * A child's environment: `env` and what finding programs needs (PATH, HOME), nothing else of this
 * process's, so a variable set where the tests run (a PORT, a REDIS_URL) cannot leak into it.
 */
export function childEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env };
}

/** `service` is a plain string so tests can also start the build with a wrong SERVICE. */
export function spawnBuilt(service: string, env: Record<string, string>): { proc: ChildProcess; output(): string } {
  if (!existsSync(BUILT_START))
    throw new Error(`${BUILT_START} is missing: run \`npm run build\` first (scripts/test.sh does)`);
  const proc = spawn(process.execPath, [BUILT_START], {
    cwd: ROOT,
    env: childEnv({
      ...env,
      SERVICE: service,
      LOG_LEVEL: env.LOG_LEVEL === 'silent' ? 'info' : (env.LOG_LEVEL ?? 'info'),
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stopWithParent(proc);
  return { proc, output: capture(proc) };
}

/**
 * A harness that dies without running its cleanup (out of memory, SIGKILL, a crash of the
 * bench) would leave its services running, holding ports and CPU. A detached shell watches both
 * and sends the child SIGTERM (its graceful shutdown) once the harness is gone. Each process is
 * known by its pid and its start time (/proc/<pid>/stat, field 22), so a pid reused by another
 * process never passes for either, and a zombie counts as gone. Linux only: without /proc the
 * shell exits at once.
 */
function stopWithParent(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const [parent, pid] = [process.pid, child.pid];
  const watch = [
    // Prints the start time of a live process; nothing for a zombie or a pid that is gone.
    'st() { s=$(cat /proc/$1/stat 2>/dev/null) || return 0; s=${s##*) }; set -- $s; [ "$1" = Z ] || echo "${20}"; }',
    `p0=$(st ${parent}); c0=$(st ${pid})`,
    '[ -n "$p0" ] && [ -n "$c0" ] || exit 0',
    `while [ "$(st ${parent})" = "$p0" ] && [ "$(st ${pid})" = "$c0" ]; do sleep 1; done`,
    `[ "$(st ${parent})" != "$p0" ] && [ "$(st ${pid})" = "$c0" ] && kill -TERM ${pid}`,
    'exit 0',
  ].join('\n');
  spawn('sh', ['-c', watch], { detached: true, stdio: 'ignore' }).unref();
}

/** How long a child that exited gets to flush the last of its output through the pipes. */
const LAST_OUTPUT_MS = 1000;

/**
 * What `find` first returns (not undefined) from a child's output, read again on every chunk the
 * child writes. Rejects as soon as the child exits first, with how it ended and the tail of its
 * output (a service that refuses its config or cannot reach a server fails the test in a second,
 * not when a polling bound runs out), and after `timeoutMs` if it neither answers nor exits. The
 * child is left as it is: the caller decides whether to kill it. `output` must be fed by listeners
 * added before this is called (capture does), so each chunk is in it when `find` reads it.
 */
export function untilOutput<T>(
  proc: ChildProcess,
  output: () => string,
  find: (text: string) => T | undefined,
  { what, timeoutMs = 60_000 }: { what: string; timeoutMs?: number },
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const tail = () => output().slice(-4000);
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the end of its output:\n${tail()}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      proc.stdout?.off('data', check);
      proc.stderr?.off('data', check);
      proc.off('exit', onExit);
    };
    function check(): boolean {
      const found = find(output());
      if (found === undefined) return false;
      done();
      resolve(found);
      return true;
    }
    function onExit(): void {
      done();
      // 'exit' can come before the last chunks have left the pipes; 'close' comes after them.
      const closed =
        proc.stdout?.readableEnded === false || proc.stderr?.readableEnded === false
          ? Promise.race([new Promise((r) => proc.once('close', r)), new Promise((r) => setTimeout(r, LAST_OUTPUT_MS))])
          : Promise.resolve();
      void closed.then(() => {
        const found = find(output());
        if (found !== undefined) return resolve(found);
        const how = proc.signalCode ? `signal ${proc.signalCode}` : `code ${proc.exitCode}`;
        reject(new Error(`waiting for ${what}: the process exited (${how}) first; the end of its output:\n${tail()}`));
      });
    }
    if (check()) return;
    if (proc.exitCode !== null || proc.signalCode !== null) return onExit();
    proc.stdout?.on('data', check);
    proc.stderr?.on('data', check);
    proc.once('exit', onExit);
  });
}

/** The port a service reports in its "listening" log line. */
export const listeningPort = (text: string): number | undefined => {
  const match = /"port":(\d+)[^\n]*listening/.exec(text);
  return match ? Number(match[1]) : undefined;
};

export async function startBuilt(service: ServiceName, env: Record<string, string>): Promise<RunningService> {
  const { proc, output } = spawnBuilt(service, env);
  const port = await untilOutput(proc, output, listeningPort, { what: `${service} to listen` }).catch(
    (err: unknown) => {
      proc.kill('SIGKILL');
      throw err;
    },
  );
  return {
    name: service,
    proc,
    port,
    output,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      const exit = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      proc.kill(signal);
      const [code] = await exit;
      return code;
    },
  };
}
