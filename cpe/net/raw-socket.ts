// Typed access to the raw-socket npm package (1.8.1, untyped CommonJS): the calls the CPE uses,
// and SO_BINDTODEVICE, which ties a raw socket to one interface (the uplink DHCP client and the
// per-uplink ICMP probes both need it; sending through it needs CAP_NET_RAW).
import { createRequire } from 'node:module';

/** Linux SO_BINDTODEVICE (asm-generic/socket.h); raw-socket's SocketOption has the same value. */
export const SO_BINDTODEVICE = 25;

export interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, source: string) => void): this;
  on(ev: 'error', fn: (err: Error) => void): this;
  on(ev: 'close', fn: () => void): this;
  send(
    buf: Buffer,
    offset: number,
    length: number,
    address: string,
    cb: (err: Error | null, bytes: number) => void,
  ): this;
  setOption(level: number, option: number, value: Buffer | number, length?: number): void;
  close(): this;
}

export interface RawSocketModule {
  createSocket(opts: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
  Protocol: { None: number; ICMP: number; TCP: number; UDP: number; ICMPv6: number };
  SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number; IPPROTO_IPV6: number };
  SocketOption: { SO_BROADCAST: number; IP_HDRINCL: number; SO_RCVBUF: number; IPV6_UNICAST_HOPS: number };
}

export const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;

/** Binds a raw socket to one interface; throws an Error naming the interface if the kernel refuses. */
export function bindToDevice(sock: RawSocket, ifname: string): void {
  const name = Buffer.from(`${ifname}\0`, 'latin1');
  try {
    sock.setOption(raw.SocketLevel.SOL_SOCKET, SO_BINDTODEVICE, name, name.length);
  } catch (e) {
    throw new Error(`SO_BINDTODEVICE ${ifname}: ${(e as Error).message}`, { cause: e });
  }
}
