// DHCPv6 client transport on one interface (RFC 8415 7.1, 18): a UDP socket bound to the
// interface's link-local address, port 546, sending to All_DHCP_Relay_Agents_and_Servers
// (ff02::1:2) port 547 on that interface; servers answer to the link-local address. Binding to the
// link-local address (with its zone) keeps two DHCPv6 uplinks apart on the one port. The address
// must have passed DAD: the caller opens the transport once the interface has it (linkLocalOf).
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from 'pino';
import { ALL_SERVERS, CLIENT_PORT, SERVER_PORT } from './wire.js';

export interface Dhcp6Transport {
  /** Sends one message to the servers of the link. */
  send(payload: Buffer): void;
  /** Called with each datagram to port 546 on the interface's link-local address. */
  onMessage(fn: (payload: Buffer) => void): void;
  close(): void;
}

export class Udp6Transport implements Dhcp6Transport {
  readonly #sock: Socket;
  readonly #to: string;
  #handler: ((payload: Buffer) => void) | undefined;
  /** Sends not yet reported, and whether close waits for them (a Release at stop goes out first). */
  #pending = 0;
  #closing = false;

  /** Binds [linkLocal%ifname]:546; errors go to the log. */
  constructor(ifname: string, linkLocal: string, log: Logger) {
    this.#to = `${ALL_SERVERS}%${ifname}`;
    this.#sock = createSocket({ type: 'udp6', reuseAddr: true });
    this.#sock.on('error', (err) => log.warn({ err, interface: ifname }, 'DHCPv6 client socket error'));
    this.#sock.on('message', (buf) => this.#handler?.(buf));
    this.#sock.bind(CLIENT_PORT, `${linkLocal}%${ifname}`, () => {
      try {
        this.#sock.setMulticastInterface(`::%${ifname}`);
      } catch (err) {
        log.warn({ err, interface: ifname }, 'DHCPv6 client: multicast interface not set');
      }
    });
    this.#sock.unref();
  }

  send(payload: Buffer): void {
    if (this.#closing) return;
    this.#pending++;
    this.#sock.send(payload, SERVER_PORT, this.#to, () => {
      if (--this.#pending === 0 && this.#closing) this.#close();
    });
  }

  onMessage(fn: (payload: Buffer) => void): void {
    this.#handler = fn;
  }

  close(): void {
    this.#handler = undefined;
    this.#closing = true;
    if (this.#pending === 0) this.#close();
  }

  #close(): void {
    try {
      this.#sock.close();
    } catch {
      /* closed already */
    }
  }
}

/** The interface's link-local address once usable (not tentative, DAD passed), else undefined. */
export function linkLocalOf(ifname: string): string | undefined {
  try {
    const out = execFileSync('ip', ['-6', '-j', 'addr', 'show', 'dev', ifname, 'scope', 'link'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    });
    return parseLinkLocal(out);
  } catch {
    return undefined;
  }
}

/** The first usable fe80:: address in `ip -6 -j addr show` output. */
export function parseLinkLocal(json: string): string | undefined {
  try {
    const a = JSON.parse(json || '[]') as {
      addr_info?: { family?: string; local?: string; tentative?: boolean; dadfailed?: boolean }[];
    }[];
    return a
      .flatMap((x) => x.addr_info ?? [])
      .find((i) => i.family === 'inet6' && i.local?.startsWith('fe80:') && !i.tentative && !i.dadfailed)
      ?.local;
  } catch {
    return undefined;
  }
}
