import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import type { ServiceName } from '../../shared/config.js';
import { eventually } from './wait.js';

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
  return { proc, output: capture(proc) };
}

export async function startBuilt(service: ServiceName, env: Record<string, string>): Promise<RunningService> {
  const { proc, output } = spawnBuilt(service, env);
  let exited = false;
  proc.once('exit', () => (exited = true));
  const port = await eventually(
    () => {
      if (exited) throw new Error(`${service} exited during start-up:\n${output()}`);
      const match = /"port":(\d+)[^\n]*listening/.exec(output());
      return match ? Number(match[1]) : undefined;
    },
    { what: `${service} to listen`, timeoutMs: 60_000 },
  ).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
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
