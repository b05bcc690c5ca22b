// Kernel TCP sockets whose reads land in one buffer shared by all of them (Node's `onread` option)
// instead of a fresh allocation per read: for sockets whose bytes go straight into the core, where
// the relay copies each read into the connection's send buffer before the callback returns (the
// buffer is overwritten by the next read of any socket). Such a socket starts paused; until a
// relay takes its reads (`takeReads`), it reads nothing.
import net from 'node:net';

/** The most one read of such a socket brings. */
export const SHARED_READ = 64 * 1024;
const SHARED = Buffer.allocUnsafe(SHARED_READ);

/** Takes `n` bytes of `buf` (a view valid only during the call); false pauses the socket. */
export type ReadSink = (buf: Uint8Array, n: number) => boolean;

const sinks = new WeakMap<net.Socket, { sink: ReadSink | undefined }>();

/** net.connect() with reads into the shared buffer, paused until `takeReads`. */
export function connectSharedReads(opts: net.TcpNetConnectOpts): net.Socket {
  const slot: { sink: ReadSink | undefined } = { sink: undefined };
  const socket = net.connect({
    ...opts,
    onread: { buffer: SHARED, callback: (n, buf) => slot.sink?.(buf, n) ?? false },
  });
  socket.pause();
  sinks.set(socket, slot);
  return socket;
}

/** Hands the socket's reads to `sink` and starts reading; false if it is not such a socket. */
export function takeReads(socket: net.Socket, sink: ReadSink): boolean {
  const slot = sinks.get(socket);
  if (!slot) return false;
  slot.sink = sink;
  socket.resume();
  return true;
}
