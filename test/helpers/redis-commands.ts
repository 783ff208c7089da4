import type { Redis } from 'ioredis';

/**
 * Records the name of every command a client sends (pipelined and auto-pipelined ones too:
 * ioredis sends each through the instance's sendCommand), to count a service's Redis requests.
 */
export function recordCommands(redis: Redis): { names: string[]; reset(): void; restore(): void } {
  const names: string[] = [];
  const original = redis.sendCommand;
  redis.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
    names.push(args[0].name);
    return original.apply(this, args);
  } as Redis['sendCommand'];
  return {
    names,
    reset: () => void names.splice(0),
    restore: () => void (redis.sendCommand = original),
  };
}

/** Cuts a client connection by its CLIENT SETNAME, as a network drop would; false if none had it. */
export async function killConnection(redis: Redis, name: string): Promise<boolean> {
  const list = (await redis.client('LIST')) as string;
  const ids = list
    .split('\n')
    .filter((line) => line.split(' ').includes(`name=${name}`))
    .map((line) => /(?:^| )id=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
  for (const id of ids) await redis.client('KILL', 'ID', id);
  return ids.length > 0;
}
