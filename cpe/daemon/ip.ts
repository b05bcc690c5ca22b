// IPv4 helpers for the CPE's config checks and addressing: dotted quad to integer and back,
// prefix membership. (IPv6 prefixes are left to the kernel and nftables.)
import { isIP } from 'node:net';
import { tryParseIp } from '../../src/wire/addr.js';

export function ipv4ToInt(a: string): number {
  const p = a.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "198.18.0.0/15" -> base and length (a bare address is a host prefix). */
export function prefixParts(cidr: string): { base: string; len: number } {
  const [base, len] = cidr.split('/');
  return { base, len: len === undefined ? (isIP(base) === 6 ? 128 : 32) : Number(len) };
}

/** The IPv4 network an address with prefix length lies in: ("192.168.1.153", 24) -> "192.168.1.0/24". */
export function networkOf(a: string, len: number): string {
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return `${intToIpv4((ipv4ToInt(a) & mask) >>> 0)}/${len}`;
}

/** Whether IPv4 address `a` lies in IPv4 prefix `cidr` (false for other families). */
export function inPrefix(a: string, cidr: string): boolean {
  const { base, len } = prefixParts(cidr);
  if (isIP(a) !== 4 || isIP(base) !== 4) return false;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return (ipv4ToInt(a) & mask) >>> 0 === (ipv4ToInt(base) & mask) >>> 0;
}

/** An address's bytes (4 or 16), or undefined when `s` is not an address. */
export const parseAddress = tryParseIp;
