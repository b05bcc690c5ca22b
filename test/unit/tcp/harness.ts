// smoltcp-style harness for per-segment tests: a socket in a given state, one segment in (built
// as the peer would send it), and exactly the segments it sends out, parsed back to plain objects.
import { DEFAULT_TCP_CONFIG, type TcpConfig } from '../../../src/tcp/config.js';
import type { TxOffload } from '../../../src/tcp/offload.js';
import { SegmentIn } from '../../../src/tcp/segment.js';
import { TcpSocket } from '../../../src/tcp/socket.js';
import { TcpState } from '../../../src/tcp/state.js';
import {
  emitPacket,
  GsoSegmenter,
  ipReprOf,
  PacketView,
  packetLen,
  parsePacket,
  type TcpOption,
  type TcpRepr,
  WireError,
} from '../../../src/wire/index.js';

export const LOCAL = Uint8Array.of(198, 18, 0, 1);
export const REMOTE = Uint8Array.of(198, 18, 0, 2);
export const LOCAL_PORT = 49500;
export const REMOTE_PORT = 80;
export const LOCAL_ISS = 10_000;
export const REMOTE_ISS = 50_000;

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

/** Plain settings so that expected segments are easy to write; tests turn options on as needed. */
export const PLAIN: Partial<TcpConfig> = {
  sack: false,
  timestamps: false,
  windowScale: false,
  recvBuffer: 65535,
  sendBuffer: 64 * 1024,
  nagle: false,
  delayedAckMs: 40,
  timeWaitMs: 1000,
  congestionControl: 'newreno',
};

export interface SegSpec {
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  payload?: Uint8Array | string;
  options?: TcpOption[];
}

export interface OutSeg {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  payload: string;
  options: TcpOption[];
}

const view = new PacketView();
const seg = new SegmentIn();
const gso = new GsoSegmenter();

export class Harness {
  now = 0;
  readonly sock: TcpSocket;
  /**
   * With an offload: each data segment the socket wrote, as [payload bytes, gso_size] (recv() returns
   * the pieces the kernel would cut it into, checksums complete).
   */
  readonly written: [number, number][] = [];

  constructor(cfg: Partial<TcpConfig> = {}, offload?: TxOffload) {
    this.sock = new TcpSocket(
      { ...DEFAULT_TCP_CONFIG, ...PLAIN, ...cfg },
      { local: LOCAL, localPort: LOCAL_PORT, remote: REMOTE, remotePort: REMOTE_PORT },
      offload,
    );
  }

  /** Feeds one segment from the peer. */
  send(s: SegSpec): void {
    this.sock.input(this.now, readSegment(s));
  }

  /** Everything the socket sends now. */
  recv(): OutSeg[] {
    const out: OutSeg[] = [];
    const raw = new Uint8Array(70000);
    const cut = new Uint8Array(70000);
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) {
      const n = this.sock.dispatch(this.now, raw);
      if (n === 0) return out;
      const size = this.sock.txGsoSize;
      if (size > 0) {
        const count = gso.count(raw, n, size) as number;
        view.wrap(raw, 0, n);
        if (view.tcp.payloadLen > 0) this.written.push([view.tcp.payloadLen, size]);
        for (let k = 0; k < count; k++) pieces.push(cut.slice(0, gso.piece(raw, n, size, k, cut) as number));
      } else pieces.push(raw.slice(0, n));
      for (;;) {
        const next = pieces.shift();
        if (!next) break;
        this.parseOut(next, next.length, out);
      }
    }
    throw new Error('socket keeps sending');
  }

  private parseOut(buf: Uint8Array, n: number, out: OutSeg[]): void {
    {
      const p = parsePacket(buf, 0, n);
      if (p instanceof WireError || !p.tcp) throw new Error(`socket sent a bad packet: ${p}`);
      if (!view.wrap(buf, 0, n) && !view.tcpChecksumOk()) throw new Error('socket sent a bad checksum');
      out.push({
        seq: p.tcp.seq,
        ack: p.tcp.ack,
        flags: p.tcp.flags,
        window: p.tcp.window,
        payload: Buffer.from(p.tcp.payload).toString('latin1'),
        options: p.tcp.options,
      });
    }
  }

  /** Advances time to `t` and runs the timers. */
  at(t: number): this {
    this.now = t;
    if (this.sock.pollAt <= t) this.sock.handleTimeout(t);
    return this;
  }

  write(data: string): number {
    return this.sock.send(Buffer.from(data));
  }

  read(): string {
    const b = new Uint8Array(this.sock.readableBytes);
    const n = this.sock.recv(b);
    return Buffer.from(b.subarray(0, n)).toString('latin1');
  }

  // ---- states, reached through the real transitions

  /** SYN-SENT: connect() and the SYN taken out. */
  synSent(): this {
    this.sock.connect(this.now, LOCAL_ISS);
    this.recv();
    return this;
  }

  /** ESTABLISHED as the active opener, nothing outstanding. */
  established(peer: Partial<SegSpec> = {}): this {
    this.synSent();
    this.send({
      seq: REMOTE_ISS,
      ack: LOCAL_ISS + 1,
      flags: SYN,
      options: [{ type: 'mss', mss: 1460 }],
      ...peer,
    });
    this.recv();
    if (this.sock.state !== TcpState.Established) throw new Error(`not established: ${this.sock.state}`);
    return this;
  }

  /** SYN-RECEIVED as the passive opener, the SYN/ACK taken out. */
  synReceived(options: TcpOption[] = [{ type: 'mss', mss: 1460 }]): this {
    this.sock.acceptSyn(this.now, readSegment({ seq: REMOTE_ISS, flags: SYN, options }), LOCAL_ISS);
    this.recv();
    return this;
  }
}

/**
 * The options of a peer's ACK that SACKs `blocks` (RFC 2018), each [from, to) in bytes from our
 * first data byte (LOCAL_ISS + 1), after two NOPs as Linux aligns them.
 */
export function sackOptions(blocks: [number, number][]): TcpOption[] {
  return [
    { type: 'nop' },
    { type: 'nop' },
    {
      type: 'sack',
      blocks: blocks.map(([l, r]) => ({ left: LOCAL_ISS + 1 + l, right: LOCAL_ISS + 1 + r })),
    },
  ];
}

/** Builds the packet the peer would send and reads it as the stack would. */
export function readSegment(s: SegSpec): SegmentIn {
  const payload = typeof s.payload === 'string' ? Buffer.from(s.payload) : (s.payload ?? new Uint8Array(0));
  const tcp: TcpRepr = {
    srcPort: REMOTE_PORT,
    dstPort: LOCAL_PORT,
    seq: s.seq >>> 0,
    ack: (s.ack ?? 0) >>> 0,
    flags: s.flags | (s.ack !== undefined ? ACK : 0),
    window: s.window ?? 65535,
    urgent: 0,
    options: s.options ?? [],
    payload,
  };
  const p = {
    ip: ipReprOf(REMOTE, LOCAL),
    tcp,
  };
  const buf = new Uint8Array(packetLen(p));
  emitPacket(p, buf);
  if (view.wrap(buf) || seg.read(view)) throw new Error('harness built a bad packet');
  return seg;
}
