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
  done: Promise<RelayEnd>;
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

/**
 * Moves bytes from `src` to `dst` like pipe(), but corks `dst` at the first chunk of a tick and
 * uncorks it on the next, so that what `src` delivers within one tick goes out in one writev.
 */
function forward(src: Duplex, dst: Duplex): void {
  let corked = false;
  const uncork = () => {
    corked = false;
    dst.uncork();
  };
  src.on('data', (chunk: Buffer) => {
    if (dst.destroyed || dst.writableEnded) return;
    if (!corked) {
      corked = true;
      dst.cork();
      process.nextTick(uncork);
    }
    // Paused only once write() said so too: 'drain' then follows (a stream whose own mark is above
    // QUEUE_MAX pauses at its mark).
    if (!dst.write(chunk) && dst.writableLength >= QUEUE_MAX) src.pause();
  });
  dst.on('drain', () => {
    if (!src.destroyed) src.resume();
  });
  endWith(src, dst);
  src.resume();
}

/** Carries `src`'s FIN to `dst`, also when `src` finished before the relay started. */
function endWith(src: Duplex, dst: Duplex): void {
  const end = () => {
    if (!dst.destroyed && !dst.writableEnded) dst.end();
  };
  if (src.readableEnded) end();
  else src.once('end', end);
}

/** A core side that copies bytes into its send buffer at once (ConnStream.writeNow). */
interface CopyingSide extends Duplex {
  writeNow(data: Uint8Array, off: number, len: number): number;
  /** Present on a ConnStream, both or neither: the send buffer's free bytes, and a call once it has `min` free. */
  readonly sendSpace?: number;
  whenRoom?(min: number, cb: () => void): void;
}

/**
 * From a kernel socket reading into the shared buffer (kernel-input.ts) to a core side that copies
 * at once: each read is copied into the connection's send buffer in the callback. When the buffer
 * then has less room than one read (SHARED_READ), the socket is paused until it has (`whenRoom`),
 * so that the next read fits whole: one copy, and no allocation, per read. What does not fit all
 * the same (a side without `whenRoom`, a send buffer smaller than a read) is copied out and
 * queued, and the socket paused until it is taken. False if either side is not of that kind.
 */
function forwardReads(kernel: Socket, core: Duplex): boolean {
  if (typeof (core as Partial<CopyingSide>).writeNow !== 'function') return false;
  const c = core as CopyingSide;
  // A side that waits for room must say how much it has: read as none, it would never be resumed.
  if (c.whenRoom !== undefined && typeof c.sendSpace !== 'number')
    throw new TypeError('relay: a core side with whenRoom() must have a sendSpace');
  const resumeKernel = () => {
    if (!kernel.destroyed) kernel.resume();
  };
  const taken = takeReads(kernel, (buf, n) => {
    if (c.destroyed || c.writableEnded) return true;
    const k = c.writeNow(buf, 0, n);
    if (k === n) {
      if (c.whenRoom === undefined || (c.sendSpace as number) >= SHARED_READ) return true;
      c.whenRoom(SHARED_READ, resumeKernel);
      return false;
    }
    c.write(Buffer.from(buf.subarray(k, n)), resumeKernel);
    return false;
  });
  if (taken) endWith(kernel, core);
  return taken;
}

export function relay(kernel: Socket, core: Duplex, opts: RelayOptions): Relay {
  let reason: RelayEnd | undefined;
  let kernelClosed = kernel.destroyed;
  let coreClosed = core.destroyed;
  let resolve: (r: RelayEnd) => void = () => {};
  const done = new Promise<RelayEnd>((r) => {
    resolve = r;
  });
  const check = () => {
    if (kernelClosed && coreClosed) resolve(reason ?? 'done');
  };

  if (opts.early && opts.early.length > 0) kernel.write(opts.early);
  // Either side may have finished before the relay started (with 0-RTT a server can answer, close
  // or reset right behind the HAG's reply; a LAN host can send its FIN during the handshake): those
  // events fired before these listeners, so act on the state they left.
  if (core.destroyed && !core.readableEnded) {
    reason = 'core-reset';
    resetSocket(kernel);
  }
  if (!forwardReads(kernel, core)) forward(kernel, core);
  forward(core, kernel);

  kernel.setTimeout(opts.idleMs, () => {
    reason ??= 'idle';
    resetSocket(kernel);
    resetSide(core);
  });
  kernel.on('error', () => {
    // The kernel socket's peer reset (or its route vanished): reset the core's side too.
    reason ??= 'kernel-reset';
    resetSide(core);
  });
  core.on('error', () => {
    // The core's side was reset (MP_FASTCLOSE, RST on every subflow, the HAG aborted).
    reason ??= 'core-reset';
    resetSocket(kernel);
  });
  kernel.on('close', () => {
    kernelClosed = true;
    if (!core.destroyed && !core.writableEnded) resetSide(core);
    check();
  });
  core.on('close', () => {
    coreClosed = true;
    // Gone without an orderly end toward the kernel socket: do not leave its peer hanging.
    if (!kernel.writableEnded && !kernel.destroyed) resetSocket(kernel);
    check();
  });
  check();
  return {
    done,
    stop() {
      reason ??= 'shutdown';
      resetSocket(kernel);
      resetSide(core);
    },
  };
}

declare module 'node:net' {
  interface Socket {
    /** Node's internal handle; absent once the socket is closed (resetAndDestroy then throws). */
    _handle?: unknown;
  }
}
