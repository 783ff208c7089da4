import { isIPv6 } from 'node:net';

/**
 * The key a client's requests are counted under: its IPv4 address, or the /64 network of its
 * IPv6 address. One host is usually handed a whole /64, so counting per IPv6 address would let
 * it rotate through 2^64 of them around the limit.
 */
export function clientKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  return `${first64Bits(ip)}::/64`;
}

/** The first four groups of an IPv6 address, `::` expanded and leading zeros dropped. */
function first64Bits(ip: string): string {
  const address = ip.split('%')[0]!; // a zone (fe80::1%eth0) is not part of the address
  // A trailing dotted quad (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) stands for two groups.
  const groups = (part: string) =>
    part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const gap = address.indexOf('::');
  let full: string[];
  if (gap === -1) {
    full = groups(address);
  } else {
    const head = groups(address.slice(0, gap));
    const tail = groups(address.slice(gap + 2));
    full = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  }
  return full
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':');
}
