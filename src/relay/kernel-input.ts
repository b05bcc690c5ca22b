// Kernel TCP sockets whose reads land in one buffer shared by all of them (Node's `onread` option)
// instead of a fresh allocation per read: for sockets whose bytes go straight into the core, where
// the relay copies each read into the connection's send buffer before the callback returns (the
// buffer is overwritten by the next read of any socket). Such a socket starts paused; until a
// relay takes its reads (`takeReads`), it reads nothing.
import net from 'node:net';

/** The most one read of such a socket brings. */
export const SHARED_READ = 64 * 1024;
const SHARED = Buffer.allocUnsafe(SHARED_READ);

/**
 * Takes `n` bytes of `buf` (a view valid only during the call), called on its owner; false pauses
 * the socket.
 */
export type ReadSink<T> = (this: T, buf: Uint8Array, n: number) => boolean;

const SINK = Symbol('sink');
const OWNER = Symbol('sink-owner');
type SinkSocket = net.Socket & { [SINK]?: ReadSink<unknown> | undefined; [OWNER]?: unknown };

/** Node calls the `onread` callback on the socket: one function for all of them, no closure each. */
function onRead(this: SinkSocket, n: number, buf: Uint8Array): boolean {
  const sink = this[SINK];
  return sink ? sink.call(this[OWNER], buf, n) : false;
}

/** net.connect() with reads into the shared buffer, paused until `takeReads`. */
export function connectSharedReads(opts: net.TcpNetConnectOpts): net.Socket {
  const socket = net.connect({
    ...opts,
    onread: { buffer: SHARED, callback: onRead as (n: number, buf: Uint8Array) => boolean },
  }) as SinkSocket;
  socket[SINK] = undefined;
  socket[OWNER] = undefined;
  socket.pause();
  return socket;
}

/** Hands the socket's reads to `sink` (called on `owner`) and starts reading; false if it is not such a socket. */
export function takeReads<T>(socket: net.Socket, sink: ReadSink<T>, owner: T): boolean {
  const s = socket as SinkSocket;
  if (!(SINK in s)) return false;
  s[SINK] = sink as ReadSink<unknown>;
  s[OWNER] = owner;
  socket.resume();
  return true;
}
