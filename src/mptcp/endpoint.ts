// An MPTCP endpoint (RFC 8684): the TCP stack its subflows run on, the token table, and the
// application's connect and listen. It is the sans-IO core a driver runs (src/driver.ts): packets
// and timers go straight to the TCP stack, whose sockets carry the MPTCP option through their
// Subflow extensions.
import type { SansIo } from '../driver.js';
import type { TcpConfig } from '../tcp/config.js';
import type { TcpSocket } from '../tcp/socket.js';
import { TcpStack } from '../tcp/stack.js';
import { DEFAULT_MPTCP_CONFIG, type MptcpConfig, MptcpConnection, MptcpMib } from './connection.js';
import { Subflow } from './subflow.js';
import { TokenTable } from './token.js';

export interface EndpointOptions {
  tcp?: Partial<TcpConfig>;
  mptcp?: Partial<MptcpConfig>;
}

export class MptcpEndpoint implements SansIo {
  readonly tcp: TcpStack;
  readonly config: MptcpConfig;
  readonly mib = new MptcpMib();
  readonly tokens = new TokenTable<MptcpConnection | undefined>();
  private readonly bySocket = new Map<TcpSocket, MptcpConnection>();

  constructor(opts: EndpointOptions = {}) {
    this.tcp = new TcpStack({ tcp: opts.tcp });
    this.config = { ...DEFAULT_MPTCP_CONFIG, ...opts.mptcp };
  }

  private newConnection(role: 'client' | 'server'): MptcpConnection {
    const key = this.tokens.allocate(undefined);
    const conn = new MptcpConnection(role, key, this.config, this.mib);
    this.tokens.set(key.token, conn);
    return conn;
  }

  /** Opens an MPTCP connection: the initial subflow from `local` to `remote` (RFC 8684 3.1). */
  connect(now: number, t: { local: Uint8Array; remote: Uint8Array; remotePort: number }): MptcpConnection {
    const conn = this.newConnection('client');
    const sock = this.tcp.connect(now, { local: t.local, remote: t.remote, remotePort: t.remotePort });
    this.attach(conn, sock);
    return conn;
  }

  /**
   * Accepts MPTCP connections (and plain TCP ones, which fall back, RFC 8684 3.7) on a port or on
   * any destination.
   */
  listen(port: number | 'any', onConnection: (conn: MptcpConnection) => void, backlog?: number): void {
    this.tcp.listen({
      port,
      backlog,
      onSyn: (sock) => {
        this.attach(this.newConnection('server'), sock);
        return true;
      },
      onAccept: (sock) => {
        const conn = this.bySocket.get(sock);
        if (conn) onConnection(conn);
      },
    });
  }

  private attach(conn: MptcpConnection, sock: TcpSocket): void {
    new Subflow(conn, sock, this.tcp);
    this.bySocket.set(sock, conn);
    const onClose = sock.events.onClose;
    sock.events.onClose = (err) => {
      this.bySocket.delete(sock);
      onClose?.(err);
      if (conn.closed) this.tokens.release(conn.local.token);
    };
  }

  /** Tells the endpoint that the application acted on `conn` (wrote, read, closed): poll it. */
  wake(conn: MptcpConnection): void {
    conn.push();
    for (const sf of conn.subflows) sf.wake();
  }

  input(now: number, packet: Uint8Array): void {
    this.tcp.input(now, packet);
  }

  pollTransmit(now: number, buf: Uint8Array): number {
    return this.tcp.pollTransmit(now, buf);
  }

  pollTimeout(): number {
    return this.tcp.pollTimeout();
  }

  handleTimeout(now: number): void {
    this.tcp.handleTimeout(now);
  }

  setWaker(wake: () => void): void {
    this.tcp.setWaker(wake);
  }
}
