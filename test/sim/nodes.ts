// Trivial SansIo nodes and packet builders for testing the simulator itself: a paced UDP/IPv4
// sender, a sink that records arrivals, and a node that replays scripted packets at given times;
// and the shortest MPTCP client of the connection-lifetime tests (a few bytes, then close).
import type { SansIo } from '../../src/driver.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { parseIp } from '../../src/wire/addr.js';
import { setU16, setU32, u32 } from '../../src/wire/bytes.js';
import { finish, internetChecksum, pseudoSumV4, sumWords } from '../../src/wire/checksum.js';
import { emitIpv4 } from '../../src/wire/ipv4.js';
import { emitPacket, IPPROTO_UDP } from '../../src/wire/packet.js';
import type { TcpOption } from '../../src/wire/tcp-options.js';

export const A = '198.18.0.1';
export const B = '198.19.0.1';

/**
 * A UDP/IPv4 datagram of `size` bytes in total (IP header included), whose payload starts with a
 * 32-bit sequence number and is then filled with a pattern. UDP checksum computed.
 */
export function udpPacket(src: string, dst: string, sport: number, dport: number, size: number, seq: number) {
  const payloadLen = size - 28;
  if (payloadLen < 4) throw new RangeError('a test datagram needs at least 32 bytes');
  const buf = new Uint8Array(size);
  const s = parseIp(src);
  const d = parseIp(dst);
  emitIpv4(
    {
      src: s,
      dst: d,
      protocol: IPPROTO_UDP,
      ttl: 64,
      dscp: 0,
      ecn: 0,
      ident: seq & 0xffff,
      dontFrag: true,
      moreFrags: false,
      fragOffset: 0,
      options: new Uint8Array(0),
      payloadLen: payloadLen + 8,
    },
    buf,
  );
  setU16(buf, 20, sport);
  setU16(buf, 22, dport);
  setU16(buf, 24, payloadLen + 8);
  setU32(buf, 28, seq);
  for (let i = 32; i < size; i++) buf[i] = i & 0xff;
  const c = finish(sumWords(buf, 20, payloadLen + 8, pseudoSumV4(s, 0, d, 0, IPPROTO_UDP, payloadLen + 8)));
  setU16(buf, 26, c === 0 ? 0xffff : c);
  return buf;
}

/** The sequence number in a test datagram. */
export function udpSeq(p: Uint8Array): number {
  return u32(p, 28);
}

/** A TCP segment over IPv4 or IPv6 (by the addresses) with the given options and payload, checksums correct. */
export function tcpPacket(o: {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  flags: number;
  options?: TcpOption[];
  payload?: Uint8Array;
  seq?: number;
}): Uint8Array {
  const buf = new Uint8Array(2000);
  const src = parseIp(o.src ?? A);
  const dst = parseIp(o.dst ?? B);
  const n = emitPacket(
    {
      ip:
        src.length === 4
          ? {
              version: 4,
              src,
              dst,
              protocol: 6,
              ttl: 64,
              dscp: 0,
              ecn: 0,
              ident: 1,
              dontFrag: true,
              moreFrags: false,
              fragOffset: 0,
              options: new Uint8Array(0),
              payloadLen: 0,
            }
          : {
              version: 6,
              src,
              dst,
              nextHeader: 6,
              hopLimit: 64,
              trafficClass: 0,
              flowLabel: 0,
              payloadLen: 0,
            },
      tcp: {
        srcPort: o.sport ?? 40000,
        dstPort: o.dport ?? 80,
        seq: o.seq ?? 1000,
        ack: 0,
        flags: o.flags,
        window: 65535,
        urgent: 0,
        options: o.options ?? [],
        payload: o.payload ?? new Uint8Array(0),
      },
    },
    buf,
  );
  return buf.slice(0, n);
}

/**
 * An MPTCP connection from A to B port 80 on `ep` that sends "hello" once established, closes,
 * and reads (and drops) whatever comes back.
 */
export function helloAndClose(ep: MptcpEndpoint, now: number): MptcpConnection {
  const c = ep.connect(now, { local: parseIp(A), remote: parseIp(B), remotePort: 80 });
  c.events.onEstablished = () => {
    c.send(Buffer.from('hello'));
    c.close();
    ep.wake(c);
  };
  c.events.onReadable = () => c.recv(new Uint8Array(64));
  ep.wake(c);
  return c;
}

/** Sends `count` datagrams of `size` bytes, one every `interval` ms from `start` (0: all at once). */
export class PacedSender implements SansIo {
  sent = 0;
  private next: number;
  private readonly template: Uint8Array;
  private readonly pseudo: number;

  constructor(
    private readonly count: number,
    size: number,
    private readonly interval: number,
    start = 0,
    src = A,
    dst = B,
  ) {
    this.next = start;
    this.template = udpPacket(src, dst, 5000, 6000, size, 0);
    this.pseudo = pseudoSumV4(parseIp(src), 0, parseIp(dst), 0, IPPROTO_UDP, size - 20);
  }

  input(): void {}

  pollTransmit(now: number, buf: Uint8Array): number {
    if (this.sent >= this.count || now < this.next) return 0;
    const t = this.template;
    buf.set(t);
    // The sequence number, the IP ident and the UDP checksum change per datagram.
    setU32(buf, 28, this.sent);
    setU16(buf, 4, this.sent & 0xffff);
    setU16(buf, 10, 0);
    setU16(buf, 10, internetChecksum(buf, 0, 20));
    setU16(buf, 26, 0);
    const c = finish(sumWords(buf, 20, t.length - 20, this.pseudo));
    setU16(buf, 26, c === 0 ? 0xffff : c);
    this.sent++;
    if (this.interval > 0) this.next += this.interval;
    return t.length;
  }

  pollTimeout(): number {
    return this.sent < this.count ? this.next : Infinity;
  }

  handleTimeout(): void {}

  setWaker(): void {}
}

export interface Arrival {
  t: number;
  seq: number;
  len: number;
  bytes: Uint8Array;
}

/** Records every packet it receives (a copy), with its arrival time. */
export class Sink implements SansIo {
  readonly arrivals: Arrival[] = [];

  input(now: number, packet: Uint8Array): void {
    this.arrivals.push({
      t: now,
      seq: packet.length >= 32 ? udpSeq(packet) : -1,
      len: packet.length,
      bytes: packet.slice(),
    });
  }

  pollTransmit(_now: number, _buf: Uint8Array): number {
    return 0;
  }

  pollTimeout(): number {
    return Infinity;
  }

  handleTimeout(): void {}

  setWaker(): void {}
}

/** Sends the given packets at the given times and records what it receives. */
export class Scripted extends Sink {
  private i = 0;

  constructor(private readonly script: { at: number; bytes: Uint8Array }[]) {
    super();
  }

  override pollTransmit(now: number, buf: Uint8Array): number {
    const s = this.script[this.i];
    if (!s || s.at > now) return 0;
    this.i++;
    buf.set(s.bytes);
    return s.bytes.length;
  }

  override pollTimeout(): number {
    return this.script[this.i]?.at ?? Infinity;
  }
}
