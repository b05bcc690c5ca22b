// The CPE's transparent listener: TCP servers on 0.0.0.0:port and [::]:port whose listening sockets
// carry IP_TRANSPARENT / IPV6_TRANSPARENT (set through the project's addon), so that nftables'
// TPROXY can hand them LAN connections to any address. Each accepted socket's localAddress and
// localPort are the connection's original destination.
import { createServer, type Server, type Socket } from 'node:net';
import { setTransparent } from '../../src/io/tun-tap/index.js';

export interface TransparentConnection {
  socket: Socket;
  /** The address and port the LAN host connected to. */
  destination: { address: string; port: number; family: 4 | 6 };
  source: { address: string; port: number };
}

export interface TransparentListenerOptions {
  port: number;
  /** Which families to listen for (default both). */
  families?: readonly (4 | 6)[];
  /** listen() backlog (default 511). */
  backlog?: number;
}

export interface TransparentListener {
  servers: Server[];
  close(): Promise<void>;
}

/** IPv4-mapped IPv6 ("::ffff:198.18.0.1") back to IPv4. */
function plain(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function listenOne(
  family: 4 | 6,
  opts: TransparentListenerOptions,
  onConnection: (c: TransparentConnection) => void,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ pauseOnConnect: false }, (socket) => {
      const address = plain(socket.localAddress ?? '');
      const source = { address: plain(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
      onConnection({ socket, destination: { address, port: socket.localPort ?? 0, family }, source });
    });
    server.once('error', reject);
    server.listen(
      {
        port: opts.port,
        host: family === 4 ? '0.0.0.0' : '::',
        ipv6Only: family === 6,
        backlog: opts.backlog ?? 511,
      },
      () => {
        server.off('error', reject);
        try {
          // The listener's fd exists now; TPROXY only hands connections to transparent sockets.
          setTransparent(server, family);
        } catch (e) {
          server.close();
          reject(e);
          return;
        }
        resolve(server);
      },
    );
  });
}

/** Listens on `port` for each family; throws (TunError from the addon) if IP_TRANSPARENT is refused. */
export async function listenTransparent(
  opts: TransparentListenerOptions,
  onConnection: (c: TransparentConnection) => void,
): Promise<TransparentListener> {
  const servers: Server[] = [];
  try {
    for (const f of opts.families ?? [4, 6]) servers.push(await listenOne(f, opts, onConnection));
  } catch (e) {
    for (const s of servers) s.close();
    throw e;
  }
  return {
    servers,
    close: () =>
      Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined),
  };
}
