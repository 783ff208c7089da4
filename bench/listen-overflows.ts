import { readFileSync } from 'node:fs';

/**
 * The kernel's count of connections dropped because a listening socket's accept queue was full
 * (TcpExt ListenOverflows, machine-wide). A storm that overflows the ws-server's listen backlog
 * (Node's default is 511) shows here: the dropped clients retry their handshake after 1, 3, 7,
 * 15... seconds, or fail with ECONNRESET.
 */
export function listenOverflows(): number | null {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('TcpExt:'));
    const [names, values] = lines.map((l) => l.split(/\s+/));
    const i = names?.indexOf('ListenOverflows') ?? -1;
    return i > 0 && values ? Number(values[i]) : null;
  } catch {
    return null;
  }
}
