// Relays one LAN connection: the LAN host's kernel TCP socket (accepted by the transparent
// listener) against the upstream, an MPTCP connection to the HAG (ConnStream) or a direct kernel
// TCP socket. pipe() both ways: each side is read only as fast as the other drains (backpressure;
// no buffer grows without bound). A FIN travels as a half-close in its direction only (RFC 9293
// 3.6: a half-closed connection still carries data the other way); a reset on either side resets
// the other; no traffic for `idleMs` resets both. Resolves once both sides are closed, with why.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export type RelayEnd = 'done' | 'idle' | 'lan-reset' | 'upstream-reset' | 'shutdown';

export interface Relay {
  done: Promise<RelayEnd>;
  /** Resets both sides (drain timeout, shutdown). */
  stop(): void;
}

/** Resets a kernel TCP socket (RST) unless it is gone already. */
export function resetSocket(s: Socket): void {
  if (s.destroyed) return;
  if (typeof s.resetAndDestroy === 'function' && s._handle) s.resetAndDestroy();
  else s.destroy();
}

export function relay(lan: Socket, up: Duplex, opts: { early?: Buffer; idleMs: number }): Relay {
  let reason: RelayEnd | undefined;
  let lanClosed = lan.destroyed;
  let upClosed = up.destroyed;
  let resolve: (r: RelayEnd) => void = () => {};
  const done = new Promise<RelayEnd>((r) => {
    resolve = r;
  });
  const check = () => {
    if (lanClosed && upClosed) resolve(reason ?? 'done');
  };
  const resetUp = () => {
    if (!up.destroyed) {
      if ((up as Socket).resetAndDestroy && (up as Socket)._handle) (up as Socket).resetAndDestroy();
      else up.destroy(new Error('reset'));
    }
  };

  if (opts.early && opts.early.length > 0) lan.write(opts.early);
  lan.pipe(up);
  up.pipe(lan);
  up.resume();
  // Either side may have finished before the relay started (with 0-RTT a server can answer, close
  // or reset right behind the HAG's reply; a LAN host can send its FIN during the handshake): those
  // events fired before these pipes and listeners, so act on the state they left.
  if (up.destroyed && !up.readableEnded) {
    reason = 'upstream-reset';
    resetSocket(lan);
  } else if (up.readableEnded && !lan.writableEnded) lan.end();
  if (lan.readableEnded && !up.writableEnded) up.end();

  lan.setTimeout(opts.idleMs, () => {
    reason ??= 'idle';
    resetSocket(lan);
    resetUp();
  });
  lan.on('error', () => {
    // The LAN host reset its connection: reset the upstream (MP_FASTCLOSE or RST).
    reason ??= 'lan-reset';
    resetUp();
  });
  up.on('error', () => {
    // The upstream was reset (the server refused or reset, the HAG aborted): so is the LAN host.
    reason ??= 'upstream-reset';
    resetSocket(lan);
  });
  lan.on('close', () => {
    lanClosed = true;
    if (!up.destroyed && !up.writableEnded) resetUp();
    check();
  });
  up.on('close', () => {
    upClosed = true;
    // Upstream gone without an orderly end toward the LAN host: do not leave it hanging.
    if (!lan.writableEnded && !lan.destroyed) resetSocket(lan);
    check();
  });
  return {
    done,
    stop() {
      reason ??= 'shutdown';
      resetSocket(lan);
      resetUp();
    },
  };
}

declare module 'node:net' {
  interface Socket {
    /** Node's internal handle; absent once the socket is closed (resetAndDestroy then throws). */
    _handle?: unknown;
  }
}
