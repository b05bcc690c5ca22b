// The raw sockets the CPE uses, on the project's addon (src/io/tun-tap/raw-socket.ts): their
// constants, and SO_BINDTODEVICE, which ties a raw socket to one interface (the uplink DHCP client
// and the per-uplink ICMP probes both need it; sending through it needs CAP_NET_RAW).
import { RawSocket } from '../../src/io/tun-tap/raw-socket.js';

export type { RawSocket };

/** Linux SO_BINDTODEVICE (asm-generic/socket.h). */
export const SO_BINDTODEVICE = 25;

export const raw = {
  createSocket(opts: { protocol: number; addressFamily?: 4 | 6; bufferSize?: number }): RawSocket {
    return new RawSocket({
      family: opts.addressFamily ?? 4,
      protocol: opts.protocol,
      bufferSize: opts.bufferSize,
    });
  },
  AddressFamily: { IPv4: 4, IPv6: 6 },
  /** IANA protocol numbers. */
  Protocol: { None: 0, ICMP: 1, TCP: 6, UDP: 17, ICMPv6: 58 },
  /** Linux socket levels (SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_ICMPV6). */
  SocketLevel: { SOL_SOCKET: 1, IPPROTO_IP: 0, IPPROTO_IPV6: 41, IPPROTO_ICMPV6: 58 },
  /** Linux option names (asm-generic/socket.h, linux/in.h, linux/in6.h, linux/icmpv6.h). */
  SocketOption: {
    SO_BROADCAST: 6,
    IP_HDRINCL: 3,
    SO_RCVBUF: 8,
    IPV6_UNICAST_HOPS: 16,
    IPV6_MULTICAST_HOPS: 18,
    IPV6_MULTICAST_LOOP: 19,
    /** Each datagram read comes with the hop limit it arrived with (RawSocket's 'message'). */
    IPV6_RECVHOPLIMIT: 51,
    /** At level IPPROTO_ICMPV6: struct icmp6_filter, 256 bits in host order, a set bit blocks that type. */
    ICMP6_FILTER: 1,
  },
} as const;

/** Binds a raw socket to one interface; throws an Error naming the interface if the kernel refuses. */
export function bindToDevice(sock: RawSocket, ifname: string): void {
  const name = Buffer.from(`${ifname}\0`, 'latin1');
  try {
    sock.setOption(raw.SocketLevel.SOL_SOCKET, SO_BINDTODEVICE, name);
  } catch (e) {
    throw new Error(`SO_BINDTODEVICE ${ifname}: ${(e as Error).message}`, { cause: e });
  }
}
