// Relays bytes between a client stream (an MPTCP connection) and the egress socket (kernel TCP):
// pipe() both ways, so each side reads only as fast as the other writes (backpressure; memory per
// connection bounded by the streams' high-water marks and the core's buffers). A FIN is carried as a
// half-close (end()) in its direction only; a reset on either side resets the other; no traffic
// either way for `idleMs` closes both. Resolves once both sides are closed, with why it ended.
import type net from 'node:net';
import type { Duplex } from 'node:stream';

export interface RelayOptions {
  /** Client bytes read during the handshake, to go to the server first. */
  early: Buffer;
  /** The client finished sending during the handshake. */
  clientEnded: boolean;
  idleMs: number;
}

export type RelayEnd = 'done' | 'idle' | 'client-reset' | 'server-reset' | 'shutdown';

export function relay(
  client: Duplex,
  server: net.Socket,
  opts: RelayOptions,
): { done: Promise<RelayEnd>; stop(): void } {
  let reason: RelayEnd | undefined;
  let clientClosed = client.destroyed;
  let serverClosed = server.destroyed;
  let resolveDone: (r: RelayEnd) => void = () => {};
  const done = new Promise<RelayEnd>((r) => {
    resolveDone = r;
  });
  const check = () => {
    if (clientClosed && serverClosed) resolveDone(reason ?? 'done');
  };

  if (opts.early.length > 0) server.write(opts.early);
  if (opts.clientEnded) server.end();
  else client.pipe(server);
  server.pipe(client);

  server.setTimeout(opts.idleMs, () => {
    reason ??= 'idle';
    server.destroy();
    client.destroy();
  });
  server.on('error', () => {
    // The server reset (or the route vanished): reset the client's connection too (a ConnStream
    // destroyed with an error aborts its MPTCP connection; a kernel socket needs an explicit RST).
    reason ??= 'server-reset';
    const c = client as Duplex & { resetAndDestroy?: () => void };
    if (typeof c.resetAndDestroy === 'function') c.resetAndDestroy();
    else client.destroy(new Error('server reset'));
  });
  client.on('error', () => {
    // The client's MPTCP connection was reset (MP_FASTCLOSE, RST on every subflow): reset the server.
    reason ??= 'client-reset';
    if (!server.destroyed) server.resetAndDestroy();
  });
  server.on('close', () => {
    serverClosed = true;
    // A server gone without an orderly FIN toward the client must not leave it hanging.
    if (!client.writableEnded && !client.destroyed) client.destroy();
    check();
  });
  client.on('close', () => {
    clientClosed = true;
    if (!server.destroyed && !server.writableEnded) server.resetAndDestroy();
    check();
  });
  return {
    done,
    stop() {
      reason ??= 'shutdown';
      if (!server.destroyed) server.resetAndDestroy();
      client.destroy();
    },
  };
}
