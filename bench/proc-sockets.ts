import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';

/**
 * Who owns which TCP socket, from /proc: the kernel's socket tables (/proc/net/tcp and tcp6)
 * give each socket's local port, state and inode, and a process's descriptors
 * (/proc/<pid>/fd/* → `socket:[inode]`) say which sockets it holds. Picking servers by the port
 * they listen on, rather than by command name, finds the RabbitMQ, Redis or FerretDB the
 * benchmark actually talks to, also when a second set runs on the machine (the chaos suite's,
 * another checkout's).
 */

/** `st` of a socket in LISTEN state. */
const TCP_LISTEN = '0A';

export interface TcpSocket {
  localPort: number;
  /** Kernel state, hex as in the table: `0A` LISTEN, `01` ESTABLISHED. */
  state: string;
  inode: number;
}

/**
 * The rows of /proc/net/tcp or /proc/net/tcp6: `sl local_address rem_address st ... uid timeout
 * inode`, addresses as `HEXADDR:HEXPORT`. Sockets with inode 0 (being torn down, owned by no
 * descriptor) are left out.
 */
export function parseTcpTable(text: string): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const [, local, , state] = fields;
    const hexPort = local?.slice(local.lastIndexOf(':') + 1);
    const inode = Number(fields[9]);
    if (!hexPort || !state || !(inode > 0)) continue;
    out.push({ localPort: Number.parseInt(hexPort, 16), state, inode });
  }
  return out;
}

/** Inodes of the LISTEN sockets on `port` (any local address: 127.0.0.1, 0.0.0.0, ::). */
export function listeningInodes(sockets: TcpSocket[], port: number): number[] {
  return sockets.filter((s) => s.state === TCP_LISTEN && s.localPort === port).map((s) => s.inode);
}

/** The inode of a descriptor's link target (`socket:[12345]`), or undefined for anything else. */
export function socketInode(linkTarget: string): number | undefined {
  const match = /^socket:\[(\d+)\]$/.exec(linkTarget);
  return match ? Number(match[1]) : undefined;
}

/** The parent PID in the text of /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parentPid(procStat: string): number {
  return Number(procStat.slice(procStat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * Of the processes holding a listening socket (pid → parent pid), the one whose parent does
 * not hold it too: a server whose forked workers inherit the socket is named by its root.
 */
export function rootHolder(holders: Map<number, number>): number | undefined {
  const pids = [...holders.keys()].sort((a, b) => a - b);
  return pids.find((pid) => !holders.has(holders.get(pid) ?? 0)) ?? pids[0];
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Every TCP socket of this network namespace, IPv4 and IPv6. */
function tcpSockets(): TcpSocket[] {
  return [...parseTcpTable(readOrEmpty('/proc/net/tcp')), ...parseTcpTable(readOrEmpty('/proc/net/tcp6'))];
}

/** The entries of a /proc directory; empty when its process exited or is not ours to read. */
export function listOrEmpty(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** The socket inodes a process holds; empty when it exited or its descriptors are not ours to read. */
function socketInodesOf(pid: number): number[] {
  const out: number[] = [];
  for (const fd of listOrEmpty(`/proc/${pid}/fd`)) {
    try {
      const inode = socketInode(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (inode !== undefined) out.push(inode);
    } catch {
      // Closed meanwhile.
    }
  }
  return out;
}

/**
 * For each port, the PID of the process listening on it in this network namespace; a port
 * nobody listens on, or whose owner's descriptors this user cannot read (another user's process,
 * without root), is left out. One pass over /proc for all ports.
 */
export function pidsListeningOn(ports: number[]): Map<number, number> {
  const sockets = tcpSockets();
  const portOf = new Map<number, number>();
  for (const port of ports) for (const inode of listeningInodes(sockets, port)) portOf.set(inode, port);
  const holders = new Map<number, Map<number, number>>();
  if (portOf.size > 0) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      const port = socketInodesOf(pid)
        .map((inode) => portOf.get(inode))
        .find((p) => p !== undefined);
      if (port === undefined) continue;
      const byPid = holders.get(port) ?? new Map<number, number>();
      byPid.set(pid, parentPid(readOrEmpty(`/proc/${pid}/stat`)));
      holders.set(port, byPid);
    }
  }
  const out = new Map<number, number>();
  for (const [port, byPid] of holders) {
    const pid = rootHolder(byPid);
    if (pid !== undefined) out.set(port, pid);
  }
  return out;
}

/** The local ports of every TCP socket the processes hold: their client connections' source ports among them. */
export function localPortsOf(pids: number[]): Set<number> {
  const inodes = new Set(pids.flatMap(socketInodesOf));
  return new Set(
    tcpSockets()
      .filter((s) => inodes.has(s.inode))
      .map((s) => s.localPort),
  );
}

/** Default ports of the servers, for URLs that name none. */
const DEFAULT_PORTS: Record<string, number> = {
  'amqp:': 5672,
  'amqps:': 5671,
  'redis:': 6379,
  'rediss:': 6379,
  'mongodb:': 27017,
};

/** Hosts whose listening sockets are in this machine's /proc (a remote server is not ours to sample). */
export function isLocalHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (['localhost', '::1', '0.0.0.0', '::'].includes(bare) || bare.startsWith('127.') || bare.startsWith('::ffff:127.'))
    return true;
  return Object.values(os.networkInterfaces()).some((addrs) => addrs?.some((a) => a.address === bare));
}

/** The TCP port a server URL points at on this machine, or undefined for a remote host. */
export function localPort(url: string): number | undefined {
  const u = new URL(url);
  if (!isLocalHost(u.hostname)) return undefined;
  return u.port ? Number(u.port) : DEFAULT_PORTS[u.protocol];
}
