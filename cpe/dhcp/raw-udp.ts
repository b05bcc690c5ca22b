// DHCP client transport on one interface: a raw IPv4 socket (the project's addon) for UDP with
// IP_HDRINCL and SO_BINDTODEVICE, so the client can send from 0.0.0.0 to 255.255.255.255 out of
// exactly this interface before it has an address (a dgram socket cannot bind to a device, and
// without an address there is no route), and receive only what arrives on this interface.
import { createSocket as createUdp, type Socket as UdpSocket } from 'node:dgram';
import type { Logger } from 'pino';
import { sendLinkBroadcast } from '../../src/io/tun-tap/index.js';
import { bindToDevice, type RawSocket, raw } from '../net/raw-socket.js';
import { CLIENT_PORT, SERVER_PORT } from './wire.js';

export interface ClientTransport {
  /** Sends one DHCP message from src:68 to dst:67 (dst may be 255.255.255.255). */
  send(payload: Buffer, src: string, dst: string): void;
  /** Called with the UDP payload of each datagram to port 68 received on the interface. */
  onMessage(fn: (payload: Buffer) => void): void;
  close(): void;
}

function sum16(buf: Buffer, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) s += buf.readUInt16BE(i);
  if (buf.length % 2) s += buf[buf.length - 1] << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function ip4(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

/** IPv4 header (RFC 791) + UDP header (RFC 768) + payload; the kernel fills the IP checksum and id. */
export function udpPacket(src: string, dst: string, sport: number, dport: number, payload: Buffer): Buffer {
  const ulen = 8 + payload.length;
  const p = Buffer.alloc(20 + ulen);
  p[0] = 0x45;
  p.writeUInt16BE(20 + ulen, 2);
  p[8] = 64; // TTL
  p[9] = 17; // UDP
  ip4(src).copy(p, 12);
  ip4(dst).copy(p, 16);
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt16BE(ulen, 24);
  payload.copy(p, 28);
  // RFC 768: checksum over the pseudo header (addresses, protocol, length) and the datagram;
  // a computed 0 is sent as 0xffff.
  const pseudo = sum16(p.subarray(12, 20), 17 + ulen);
  const c = fold(sum16(p.subarray(20), pseudo));
  p.writeUInt16BE(c === 0 ? 0xffff : c, 26);
  return p;
}

/** The UDP payload of an IPv4 datagram to `dport`, or undefined when it is not one (or is cut short). */
export function udpPayload(packet: Buffer, dport: number): Buffer | undefined {
  if (packet.length < 28 || packet[0] >> 4 !== 4 || packet[9] !== 17) return undefined;
  const ihl = (packet[0] & 15) * 4;
  if (ihl < 20 || packet.length < ihl + 8) return undefined;
  if (packet.readUInt16BE(ihl + 2) !== dport) return undefined;
  const ulen = packet.readUInt16BE(ihl + 4);
  if (ulen < 8 || ihl + ulen > packet.length) return undefined;
  return packet.subarray(ihl + 8, ihl + ulen);
}

export class RawUdpTransport implements ClientTransport {
  readonly #sock: RawSocket;
  readonly #sink: UdpSocket;
  readonly #log: Logger;
  #handler: ((payload: Buffer) => void) | undefined;

  readonly #ifname: string;

  constructor(ifname: string, log: Logger) {
    this.#log = log;
    this.#ifname = ifname;
    this.#sock = raw.createSocket({ protocol: raw.Protocol.UDP, addressFamily: raw.AddressFamily.IPv4 });
    this.#sock.on('error', (e) => this.#log.error({ err: e }, 'DHCP client raw socket error'));
    try {
      bindToDevice(this.#sock, ifname);
      this.#sock.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1);
      this.#sock.setOption(raw.SocketLevel.SOL_SOCKET, raw.SocketOption.SO_BROADCAST, 1);
    } catch (e) {
      this.#sock.close();
      throw e;
    }
    this.#sock.on('message', (buf) => {
      const payload = udpPayload(buf, CLIENT_PORT);
      if (payload && this.#handler) this.#handler(Buffer.from(payload));
    });
    // A UDP socket on port 68 so that unicast replies (renewals) do not draw ICMP port unreachables;
    // what it receives is a copy of what the raw socket sees, and is dropped.
    this.#sink = createUdp({ type: 'udp4', reuseAddr: true });
    this.#sink.on('error', (e) => this.#log.debug({ err: e }, 'DHCP client port-68 sink unavailable'));
    this.#sink.on('message', () => {});
    this.#sink.bind(CLIENT_PORT);
  }

  send(payload: Buffer, src: string, dst: string): void {
    const pkt = udpPacket(src, dst, CLIENT_PORT, SERVER_PORT, payload);
    if (src === '0.0.0.0') {
      // RFC 2131 4.1: before it has an address the client sends from 0.0.0.0. A raw IP socket
      // cannot (the kernel puts another of the host's addresses there, e.g. the LAN's, and
      // dnsmasq then ignores the request): the packet goes out whole at the link layer.
      pkt.writeUInt16BE(fold(sum16(pkt.subarray(0, 20))), 10); // the IP header checksum
      try {
        sendLinkBroadcast(this.#ifname, pkt);
      } catch (err) {
        this.#log.warn({ err, dst }, 'DHCP client send failed');
      }
      return;
    }
    this.#sock.send(pkt, 0, pkt.length, dst, (err) => {
      if (err) this.#log.warn({ err, dst }, 'DHCP client send failed');
    });
  }

  onMessage(fn: (payload: Buffer) => void): void {
    this.#handler = fn;
  }

  close(): void {
    this.#handler = undefined;
    this.#sock.close();
    try {
      this.#sink.close();
    } catch {
      /* not bound */
    }
  }
}
