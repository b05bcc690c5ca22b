// A bulk-transfer application for simulations and benchmarks: sends N bytes of a seeded stream over a TcpSocket
// as fast as the send buffer allows, reads everything that arrives, and keeps SHA-256 digests of
// both directions and the times of the first and last byte received. Synchronous (no Node
// streams), so that virtual time is all that passes.
import { createHash, type Hash } from 'node:crypto';
import type { MptcpConnection } from '../mptcp/connection.js';
import type { MptcpEndpoint } from '../mptcp/endpoint.js';
import type { TcpSocket } from '../tcp/socket.js';
import type { TcpStack } from '../tcp/stack.js';
import { TcpState } from '../tcp/state.js';

/** What the application sees of a connection: a TCP socket or an MPTCP connection. */
export interface ByteConn {
  send(data: Uint8Array, off: number, len: number): number;
  recv(dst: Uint8Array, off?: number, max?: number): number;
  close(): void;
  readonly readEnded: boolean;
  events: {
    onEstablished?(): void;
    onWritable?(): void;
    onReadable?(): void;
    onEnd?(): void;
    onClose?(): void;
  };
}

/** A TCP socket as a ByteConn, with the stack to wake after each action. */
export function tcpConn(
  stack: TcpStack,
  sock: TcpSocket,
): { conn: ByteConn; wake: () => void; canClose: () => boolean } {
  return {
    conn: sock,
    wake: () => stack.wake(sock),
    canClose: () => sock.state === TcpState.Established || sock.state === TcpState.CloseWait,
  };
}

/** An MPTCP connection as a ByteConn, with the endpoint to wake after each action. */
export function mptcpConn(
  ep: MptcpEndpoint,
  c: MptcpConnection,
): { conn: ByteConn; wake: () => void; canClose: () => boolean } {
  return { conn: c, wake: () => ep.wake(c), canClose: () => c.established };
}

/** A prime-length block of pseudo-random bytes; the stream repeats it at no segment alignment. */
const PERIOD = 65521;
function block(seed: number): Uint8Array {
  const b = new Uint8Array(PERIOD);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < PERIOD; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x;
  }
  return b;
}

export class BulkApp {
  readonly txHash: Hash = createHash('sha256');
  readonly rxHash: Hash = createHash('sha256');
  sent = 0;
  received = 0;
  firstRxAt = -1;
  lastRxAt = -1;
  /** The longest time between two arrivals of data, in ms (the stall an application sees). */
  maxGap = 0;
  /** When the longest gap began. */
  maxGapAt = -1;
  ended = false;
  closed = false;
  private closedSend = false;
  private readonly data: Uint8Array;
  private readonly rxBuf = new Uint8Array(256 * 1024);

  private readonly sock: ByteConn;
  private readonly wake: () => void;
  private readonly canClose: () => boolean;

  constructor(
    target: { conn: ByteConn; wake: () => void; canClose: () => boolean },
    private readonly toSend: number,
    seed: number,
    private readonly clock: () => number,
    /** What the application may send before anything raises `cap` (0: nothing until pace() starts). */
    cap = Number.POSITIVE_INFINITY,
  ) {
    this.cap = cap;
    this.data = block(seed);
    this.sock = target.conn;
    this.wake = target.wake;
    this.canClose = target.canClose;
    const sock = this.sock;
    sock.events = {
      onEstablished: () => this.pump(),
      onWritable: () => this.pump(),
      onReadable: () => this.drain(),
      onEnd: () => {
        this.drain();
        this.ended = true;
      },
      onClose: () => {
        this.closed = true;
      },
    };
    // What arrived before the application took the socket (a FIN with the handshake's last ACK).
    this.drain();
    if (sock.readEnded) this.ended = true;
    this.pump();
  }

  /** Bytes received that differ from the expected stream, and the offset of the first (see expectFrom). */
  mismatches = 0;
  firstMismatch = -1;
  private expected: Uint8Array | undefined;

  /** Compares every byte received, from now on, against the stream a BulkApp seeded `seed` sends. */
  expectFrom(seed: number): void {
    this.expected = block(seed);
  }

  /** Bytes the application may have sent so far (an offered load below the link rate: pace()). */
  cap = Number.POSITIVE_INFINITY;

  /** Bytes the application may have read so far (a reader slower than the link: paceReads()). */
  readCap = Number.POSITIVE_INFINITY;

  /** Sends what the window and `cap` allow now. */
  kick(): void {
    this.pump();
  }

  private pump(): void {
    let moved = false;
    while (this.sent < Math.min(this.toSend, this.cap)) {
      const off = this.sent % PERIOD;
      const want = Math.min(PERIOD - off, Math.min(this.toSend, this.cap) - this.sent);
      const n = this.sock.send(this.data, off, want);
      if (n === 0) break;
      this.txHash.update(this.data.subarray(off, off + n));
      this.sent += n;
      moved = true;
    }
    if (this.sent === this.toSend && !this.closedSend && this.canClose()) {
      this.closedSend = true;
      this.sock.close();
      moved = true;
    }
    if (moved) this.wake();
  }

  /** Reads what has arrived, up to `readCap`. */
  read(): void {
    this.drain();
  }

  private drain(): void {
    for (;;) {
      const room = Math.min(this.rxBuf.length, this.readCap - this.received);
      if (room <= 0) break;
      const n = this.sock.recv(this.rxBuf, 0, room);
      if (n === 0) break;
      const now = this.clock();
      if (this.firstRxAt < 0) this.firstRxAt = now;
      else if (now - this.lastRxAt > this.maxGap) {
        this.maxGap = now - this.lastRxAt;
        this.maxGapAt = this.lastRxAt;
      }
      this.lastRxAt = now;
      this.rxHash.update(this.rxBuf.subarray(0, n));
      if (this.expected) this.compare(n);
      this.received += n;
      this.wake();
    }
  }

  private compare(n: number): void {
    const want = this.expected!;
    for (let i = 0; i < n; i++) {
      if (this.rxBuf[i] === want[(this.received + i) % PERIOD]) continue;
      if (this.mismatches++ === 0) this.firstMismatch = this.received + i;
    }
  }

  /** Goodput in bit/s from the first to the last byte received. */
  get goodput(): number {
    return (this.received * 8) / ((this.lastRxAt - this.firstRxAt) / 1000);
  }
}
