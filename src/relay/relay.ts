// Relays one connection between the daemon's kernel TCP socket (the CPE's LAN host, the HAG's
// server) and the core's side (an MPTCP connection's stream, or a second kernel socket on the CPE's
// direct path). Used by both daemons; each names the sides in its own words (the reasons below are
// neutral: 'kernel-reset' is the kernel socket's peer resetting, 'core-reset' the other side's).
// - Each side is read only as fast as the other drains (backpressure; memory per connection is
//   bounded by the streams' high-water marks and the core's buffers).
// - A FIN travels as a half-close in its direction only (RFC 9293 3.6: a half-closed connection
//   still carries data the other way); a reset on either side resets the other; no traffic on the
//   kernel socket for `idleMs` resets both.
// - Writes are corked until the end of the current tick: the core pushes one chunk per received
//   segment while it processes a batch of packets, and the kernel socket then takes the whole batch
//   in one writev system call instead of one write per segment.
// - A kernel socket made to read into the shared buffer (kernel-input.ts; the HAG's egress) toward a
//   core side that copies at once (ConnStream.writeNow) has each read copied into the connection's
//   send buffer in the read callback: no allocation per read.
// Resolves once both sides are closed, with why.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SHARED_READ, takeReads } from './kernel-input.js';

export type RelayEnd = 'done' | 'idle' | 'kernel-reset' | 'core-reset' | 'shutdown';

export interface Relay {
  /** Made when first read: a relay nobody asks has no promise. */
  done: Promise<RelayEnd>;
  /**
   * Calls `cb(ctx, end)` once, on a later tick, when both sides are closed (at once if they are):
   * a shared function and its context instead of a promise, its reactions and closures per relay.
   */
  whenDone<T>(cb: (ctx: T, end: RelayEnd) => void, ctx: T): void;
  /** Resets both sides (drain timeout, shutdown). */
  stop(): void;
}

export interface RelayOptions {
  /** Bytes that arrived during the handshake, to go to the kernel socket first. */
  early?: Buffer | undefined;
  idleMs: number;
}

/** A relay's end in a daemon's words: `sides` names the kernel socket's peer and the core's side. */
export function endName(end: RelayEnd, sides: { kernel: string; core: string }): string {
  if (end === 'kernel-reset') return `${sides.kernel}-reset`;
  if (end === 'core-reset') return `${sides.core}-reset`;
  return end;
}

/** Resets a kernel TCP socket (RST) unless it is gone already. */
export function resetSocket(s: Socket): void {
  if (s.destroyed) return;
  if (typeof s.resetAndDestroy === 'function' && s._handle) s.resetAndDestroy();
  else s.destroy();
}

/** Resets either kind of side: RST on a kernel socket, an abort (MP_FASTCLOSE/RST) on the core's. */
function resetSide(d: Duplex): void {
  if (d.destroyed) return;
  const s = d as Socket;
  if (typeof s.resetAndDestroy === 'function' && s._handle) s.resetAndDestroy();
  else d.destroy(new Error('reset'));
}

/**
 * What one side may queue for the other before it is paused: above a socket's 16 KB high-water mark
 * so that a whole batch (the TUN driver hands the core up to 64 packets at once) goes out in one
 * writev, and still a bound on the memory a connection holds.
 */
const QUEUE_MAX = 64 * 1024;

/** The relay a side belongs to: its listeners are shared functions that find it here. */
const LINK = Symbol('relay');
type Side = Duplex & { [LINK]?: Link };

/** Bits of Link.corked: the side corked until the end of the tick. */
const CORE_CORKED = 1;
const KERNEL_CORKED = 2;

/**
 * One relay's state. Its listeners are module functions shared by every relay (no closure per
 * connection: at 18,000 idle connections the HAG held some 20 closures, their contexts and three
 * once() wrappers per relay); each finds its relay through the side it fires on (`this`).
 */
class Link implements Relay {
  reason: RelayEnd | undefined;
  kernelClosed: boolean;
  coreClosed: boolean;
  corked = 0;
  end: RelayEnd | undefined;
  private promise: Promise<RelayEnd> | undefined;
  private resolve: ((r: RelayEnd) => void) | undefined;
  /** forwardReads' resumer of the kernel socket, made the first time it has to wait. */
  resumer: (() => void) | undefined;
  /** whenDone's callback and its context. */
  private doneCb: ((ctx: unknown, end: RelayEnd) => void) | undefined;
  private doneCtx: unknown;

  constructor(
    readonly kernel: Socket,
    readonly core: Duplex,
  ) {
    this.kernelClosed = kernel.destroyed;
    this.coreClosed = core.destroyed;
  }

  get done(): Promise<RelayEnd> {
    if (!this.promise) {
      this.promise = new Promise<RelayEnd>((r) => {
        this.resolve = r;
      });
      if (this.end !== undefined) this.resolve!(this.end);
    }
    return this.promise;
  }

  whenDone<T>(cb: (ctx: T, end: RelayEnd) => void, ctx: T): void {
    this.doneCb = cb as (ctx: unknown, end: RelayEnd) => void;
    this.doneCtx = ctx;
    if (this.end !== undefined) process.nextTick(callDone, this);
  }

  check(): void {
    if (this.end !== undefined || !this.kernelClosed || !this.coreClosed) return;
    this.end = this.reason ?? 'done';
    this.resolve?.(this.end);
    if (this.doneCb) process.nextTick(callDone, this);
  }

  /** whenDone's callback, once. */
  fireDone(): void {
    const cb = this.doneCb;
    if (!cb || this.end === undefined) return;
    const ctx = this.doneCtx;
    this.doneCb = undefined;
    this.doneCtx = undefined;
    cb(ctx, this.end);
  }

  stop(): void {
    this.abort('shutdown');
  }

  /** Resets both sides; the end's reason is the first one given. */
  abort(reason: RelayEnd): void {
    this.reason ??= reason;
    resetSocket(this.kernel);
    resetSide(this.core);
  }

  other(side: Duplex): Duplex {
    return side === this.kernel ? this.core : this.kernel;
  }

  resumeKernel(): () => void {
    this.resumer ??= () => {
      if (!this.kernel.destroyed) this.kernel.resume();
    };
    return this.resumer;
  }
}

function callDone(r: Link): void {
  r.fireDone();
}

function uncork(r: Link, bit: number): void {
  r.corked &= ~bit;
  (bit === CORE_CORKED ? r.core : r.kernel).uncork();
}

/**
 * Moves bytes from a side to the other like pipe(), but corks the destination at the first chunk
 * of a tick and uncorks it on the next, so that what the side delivers within one tick goes out in
 * one writev.
 */
function onData(this: Side, chunk: Buffer): void {
  const r = this[LINK]!;
  const dst = r.other(this);
  if (dst.destroyed || dst.writableEnded) return;
  const bit = dst === r.core ? CORE_CORKED : KERNEL_CORKED;
  if ((r.corked & bit) === 0) {
    r.corked |= bit;
    dst.cork();
    process.nextTick(uncork, r, bit);
  }
  // Paused only once write() said so too: 'drain' then follows (a stream whose own mark is above
  // QUEUE_MAX pauses at its mark).
  if (!dst.write(chunk) && dst.writableLength >= QUEUE_MAX) this.pause();
}

/** On the destination: resumes the side that feeds it. */
function onDrain(this: Side): void {
  const src = this[LINK]!.other(this);
  if (!src.destroyed) src.resume();
}

/** Carries a side's FIN to the other. */
function onEnd(this: Side): void {
  const dst = this[LINK]!.other(this);
  if (!dst.destroyed && !dst.writableEnded) dst.end();
}

function forward(src: Side, dst: Side): void {
  src.on('data', onData);
  dst.on('drain', onDrain);
  endWith(src, dst);
  src.resume();
}

/**
 * Carries `src`'s FIN to `dst`, also when `src` finished before the relay started. A plain
 * listener ('end' comes once): a once() wrapper costs a closure, and its removal turns the
 * emitter's event table into a dictionary.
 */
function endWith(src: Side, dst: Side): void {
  if (src.readableEnded) {
    if (!dst.destroyed && !dst.writableEnded) dst.end();
  } else src.on('end', onEnd);
}

/** A core side that copies bytes into its send buffer at once (ConnStream.writeNow). */
interface CopyingSide extends Duplex {
  writeNow(data: Uint8Array, off: number, len: number): number;
  /** Present on a ConnStream, both or neither: the send buffer's free bytes, and a call once it has `min` free. */
  readonly sendSpace?: number;
  whenRoom?(min: number, cb: () => void): void;
}

/** A kernel socket's read (kernel-input.ts), copied into the core side's send buffer. */
function sharedRead(this: Link, buf: Uint8Array, n: number): boolean {
  const c = this.core as CopyingSide;
  if (c.destroyed || c.writableEnded) return true;
  const k = c.writeNow(buf, 0, n);
  if (k === n) {
    if (c.whenRoom === undefined || (c.sendSpace as number) >= SHARED_READ) return true;
    c.whenRoom(SHARED_READ, this.resumeKernel());
    return false;
  }
  c.write(Buffer.from(buf.subarray(k, n)), this.resumeKernel());
  return false;
}

/**
 * From a kernel socket reading into the shared buffer (kernel-input.ts) to a core side that copies
 * at once: each read is copied into the connection's send buffer in the callback. When the buffer
 * then has less room than one read (SHARED_READ), the socket is paused until it has (`whenRoom`),
 * so that the next read fits whole: one copy, and no allocation, per read. What does not fit all
 * the same (a side without `whenRoom`, a send buffer smaller than a read) is copied out and
 * queued, and the socket paused until it is taken. False if either side is not of that kind.
 */
function forwardReads(r: Link): boolean {
  const c = r.core as Partial<CopyingSide>;
  if (typeof c.writeNow !== 'function') return false;
  // A side that waits for room must say how much it has: read as none, it would never be resumed.
  if (c.whenRoom !== undefined && typeof c.sendSpace !== 'number')
    throw new TypeError('relay: a core side with whenRoom() must have a sendSpace');
  const taken = takeReads(r.kernel, sharedRead, r);
  if (taken) endWith(r.kernel, r.core);
  return taken;
}

function onKernelIdle(this: Side): void {
  this[LINK]!.abort('idle');
}

function onKernelError(this: Side): void {
  // The kernel socket's peer reset (or its route vanished): reset the core's side too.
  const r = this[LINK]!;
  r.reason ??= 'kernel-reset';
  resetSide(r.core);
}

function onCoreError(this: Side): void {
  // The core's side was reset (MP_FASTCLOSE, RST on every subflow, the HAG aborted).
  const r = this[LINK]!;
  r.reason ??= 'core-reset';
  resetSocket(r.kernel);
}

function onKernelClose(this: Side): void {
  const r = this[LINK]!;
  r.kernelClosed = true;
  if (!r.core.destroyed && !r.core.writableEnded) resetSide(r.core);
  r.check();
}

function onCoreClose(this: Side): void {
  const r = this[LINK]!;
  r.coreClosed = true;
  // Gone without an orderly end toward the kernel socket: do not leave its peer hanging.
  if (!r.kernel.writableEnded && !r.kernel.destroyed) resetSocket(r.kernel);
  r.check();
}

export function relay(kernel: Socket, core: Duplex, opts: RelayOptions): Relay {
  const r = new Link(kernel, core);
  (kernel as Side)[LINK] = r;
  (core as Side)[LINK] = r;
  if (opts.early && opts.early.length > 0) kernel.write(opts.early);
  // Either side may have finished before the relay started (with 0-RTT a server can answer, close
  // or reset right behind the HAG's reply; a LAN host can send its FIN during the handshake): those
  // events fired before these listeners, so act on the state they left.
  if (core.destroyed && !core.readableEnded) {
    r.reason = 'core-reset';
    resetSocket(kernel);
  }
  if (!forwardReads(r)) forward(kernel, core);
  forward(core, kernel);

  // setTimeout() with a callback adds it with once(): a listener of our own instead.
  kernel.setTimeout(opts.idleMs);
  kernel.on('timeout', onKernelIdle);
  kernel.on('error', onKernelError);
  core.on('error', onCoreError);
  kernel.on('close', onKernelClose);
  core.on('close', onCoreClose);
  r.check();
  return r;
}

declare module 'node:net' {
  interface Socket {
    /** Node's internal handle; absent once the socket is closed (resetAndDestroy then throws). */
    _handle?: unknown;
  }
}
