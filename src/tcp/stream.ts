// The application's view of one connection (a TCP socket, or an MPTCP connection): a Node Duplex
// stream with real backpressure. Writes are copied into the connection's bounded send buffer as
// space frees up (the write callback waits until then); reads pull from the receive buffer only as
// fast as the consumer takes them, so the advertised window closes when the application is slow.
import { Duplex } from 'node:stream';
import type { TcpSocket } from './socket.js';

/** What the stream needs of the stack: a way to say "poll this socket". */
export interface Waker {
  wake(sock: TcpSocket): void;
}

const READ_CHUNK = 64 * 1024;

/** What a stream needs of a connection. TcpSocket and MptcpConnection both are one. */
export interface StreamConn {
  send(data: Uint8Array, off: number, len: number): number;
  recv(dst: Uint8Array): number;
  /** Bytes the send buffer takes now. */
  readonly sendSpace: number;
  readonly readableBytes: number;
  /** The peer finished sending and everything before its FIN was read. */
  readonly readEnded: boolean;
  readonly isClosed: boolean;
  /** Why the connection ended, when it ended abnormally. */
  readonly error?: Error | undefined;
  close(): void;
  abort(): void;
  events: {
    onEstablished?(): void;
    onReadable?(): void;
    onEnd?(): void;
    onWritable?(): void;
    onClose?(err?: Error): void;
  };
}

/**
 * Who polls a stream's connection after the stream moved bytes: a function, or an object whose
 * `wake` is called with the connection (the stack or endpoint itself, so that a stream costs no
 * closure).
 */
export type StreamWaker = (() => void) | { wake(conn: never): void };

export class ConnStream extends Duplex {
  private pending: { chunk: Uint8Array; off: number; cb: (err?: Error | null) => void } | undefined;
  private wantRead = false;
  private ended = false;
  /** whenRoom's waiter and the send space it waits for. */
  private roomCb: (() => void) | undefined;
  private roomMin = 0;
  /** The send buffer's size (its space while still empty): the most whenRoom may wait for. */
  private readonly sendCapacity: number;

  constructor(
    readonly conn: StreamConn,
    private readonly waker: StreamWaker,
  ) {
    super({ allowHalfOpen: true });
    this.sendCapacity = conn.sendSpace;
    // The stream is the connection's application: its events are the stream's alone, its own
    // methods below (no object and five closures per connection).
    conn.events = this;
  }

  private wake(): void {
    const w = this.waker;
    if (typeof w === 'function') w();
    else (w as { wake(conn: StreamConn): void }).wake(this.conn);
  }

  /** The connection's events (StreamConn.events), called by the connection only. */
  onEstablished(): void {
    this.emit('connect');
    this.flushPending();
  }

  onReadable(): void {
    if (this.wantRead) this.pull();
  }

  onEnd(): void {
    if (this.wantRead) this.pull();
  }

  onWritable(): void {
    this.flushPending();
    this.roomReady();
  }

  onClose(err?: Error): void {
    this.roomCb = undefined;
    if (err) this.destroy(err);
    else {
      this.pull();
      if (this.pending) this.pending.cb(new Error('connection closed before the data was sent'));
      this.pending = undefined;
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pending = { chunk, off: 0, cb };
    this.flushPending();
  }

  /** Copies what the send buffer takes now, if no write is queued before it: the bytes taken. */
  writeNow(data: Uint8Array, off: number, len: number): number {
    if (this.writableLength > 0 || this.writableEnded || this.destroyed) return 0;
    const n = this.conn.send(data, off, len);
    if (n > 0) this.wake();
    return n;
  }

  /** The connection's send buffer's free bytes (what writeNow takes now). */
  get sendSpace(): number {
    return this.conn.sendSpace;
  }

  /**
   * Calls `cb` once, at the first acknowledgment after which the send buffer takes `min` bytes (a
   * writer that holds off until a whole read of its own fits, instead of queueing the rest); at
   * most the whole buffer.
   */
  whenRoom(min: number, cb: () => void): void {
    this.roomMin = Math.min(min, this.sendCapacity);
    this.roomCb = cb;
  }

  private roomReady(): void {
    const cb = this.roomCb;
    if (cb === undefined || (this.conn.sendSpace < this.roomMin && !this.conn.isClosed)) return;
    this.roomCb = undefined;
    cb();
  }

  private flushPending(): void {
    const p = this.pending;
    if (!p) return;
    const n = this.conn.send(p.chunk, p.off, p.chunk.length - p.off);
    p.off += n;
    if (n > 0) this.wake();
    if (p.off >= p.chunk.length) {
      this.pending = undefined;
      p.cb();
    } else if (this.conn.isClosed) {
      this.pending = undefined;
      p.cb(this.conn.error ?? new Error('connection closed'));
    }
  }

  override _read(): void {
    this.wantRead = true;
    this.pull();
  }

  private pull(): void {
    while (this.conn.readableBytes > 0) {
      const b = Buffer.allocUnsafe(Math.min(this.conn.readableBytes, READ_CHUNK));
      const n = this.conn.recv(b);
      this.wake();
      if (!this.push(b.subarray(0, n))) {
        this.wantRead = false;
        return;
      }
    }
    if (!this.ended && (this.conn.readEnded || (this.conn.isClosed && !this.conn.error))) {
      this.ended = true;
      this.push(null);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.conn.close();
    this.wake();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // After a graceful close both ways (Node destroys the stream by itself then) the socket
    // finishes on its own (LAST-ACK, TIME-WAIT); any other destroy aborts the connection.
    const graceful = !err && this.writableFinished && this.readableEnded;
    if (!graceful && !this.conn.isClosed) {
      this.conn.abort();
      this.wake();
    }
    cb(err);
  }
}

/** A TCP socket's stream. */
export class TcpStream extends ConnStream {
  constructor(
    waker: Waker,
    readonly socket: TcpSocket,
  ) {
    super(socket, waker);
  }

  get remoteAddress(): Uint8Array {
    return this.socket.tuple.remote;
  }
}

/** What the stream helpers need of a stack. */
export interface StreamStack extends Waker {
  connect(
    now: number,
    t: { local: Uint8Array; localPort?: number; remote: Uint8Array; remotePort: number },
  ): TcpSocket;
  listen(opts: { port: number | 'any'; backlog?: number; onAccept(sock: TcpSocket): void }): void;
}

/** Opens a connection and returns its stream ('connect' when established, 'error' if refused). */
export function connectStream(
  stack: StreamStack,
  now: number,
  t: { local: Uint8Array; localPort?: number; remote: Uint8Array; remotePort: number },
): TcpStream {
  return new TcpStream(stack, stack.connect(now, t));
}

/** Listens and hands every accepted connection over as a stream. */
export function listenStreams(
  stack: StreamStack,
  opts: { port: number | 'any'; backlog?: number; onConnection(stream: TcpStream): void },
): void {
  stack.listen({
    port: opts.port,
    backlog: opts.backlog,
    onAccept: (sock) => opts.onConnection(new TcpStream(stack, sock)),
  });
}
