import { Cluster } from 'ioredis';
import type { Redis } from '../../shared/redis.js';

type SendCommand = (this: unknown, command: { name: string }, ...rest: unknown[]) => unknown;

/**
 * Records the name of every command a client sends (pipelined and auto-pipelined ones too:
 * ioredis sends each through the instance's sendCommand; a Cluster's commands go through the
 * Cluster's), to count a service's Redis requests.
 */
export function recordCommands(redis: Redis): { names: string[]; reset(): void; restore(): void } {
  const names: string[] = [];
  const client = redis as unknown as { sendCommand: SendCommand };
  const original = client.sendCommand;
  client.sendCommand = function (this: unknown, command, ...rest) {
    names.push(command.name);
    return original.call(this, command, ...rest);
  };
  return {
    names,
    reset: () => void names.splice(0),
    restore: () => void (client.sendCommand = original),
  };
}

/**
 * Cuts a client connection by its CLIENT SETNAME, as a network drop would; false if none had it.
 * On a cluster the connection may be on any node: every node is asked.
 */
export async function killConnection(redis: Redis, name: string): Promise<boolean> {
  let killed = false;
  for (const server of redis instanceof Cluster ? redis.nodes('all') : [redis]) {
    const list = (await server.client('LIST')) as string;
    const ids = list
      .split('\n')
      .filter((line) => line.split(' ').includes(`name=${name}`))
      .map((line) => /(?:^| )id=(\d+)/.exec(line)?.[1])
      .filter((id): id is string => id !== undefined);
    for (const id of ids) await server.client('KILL', 'ID', id);
    killed ||= ids.length > 0;
  }
  return killed;
}
