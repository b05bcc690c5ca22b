// What a closed MPTCP connection leaves behind (issue 13 item 5), in simulation: after a graceful
// close both ways, the subflow sockets in TIME-WAIT are small records in the TCP stack, and
// everything above lets go at once, not 2 MSL later: the connection reports closed, the endpoint
// forgets its token and socket maps, and no socket or buffer stays in either stack.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { Network } from '../../src/sim/index.js';
import { helloAndClose } from './nodes.js';

const N = 300;

describe('closed MPTCP connections in TIME-WAIT', () => {
  it('hold no socket, buffer, token or connection object; only TIME-WAIT records of < 1 KB', () => {
    const a = new MptcpEndpoint();
    const b = new MptcpEndpoint();
    const net = new Network({ seed: 13 });
    net.addNode('a', a);
    net.addNode('b', b);
    const l = net.connect('a', 'b', { name: 'l', rate: 100e6, delay: 5 });
    net.route('a', { dst: '198.19.0.0/16', via: l });
    net.route('b', { dst: '198.18.0.0/16', via: l });
    const servers: MptcpConnection[] = [];
    b.listen(
      80,
      (c) => {
        servers.push(c);
        c.events.onReadable = () => c.recv(new Uint8Array(64));
        // The client's DATA_FIN: answer and close our side too.
        c.events.onEnd = () => {
          c.send(Buffer.from('bye'));
          c.close();
          b.wake(c);
        };
      },
      N,
    );
    const closedAt: number[] = [];
    const clients = Array.from({ length: N }, () => {
      const c = helloAndClose(a, net.now);
      c.events.onClose = () => closedAt.push(net.now);
      return c;
    });
    const done = () =>
      clients.every((c) => c.closed) && servers.length === N && servers.every((c) => c.closed);
    net.runUntil(done, 20_000);
    expect(done()).toBe(true);
    // All well before 2 MSL (60 s): closing does not wait for TIME-WAIT.
    expect(Math.max(...closedAt)).toBeLessThan(20_000);
    expect(clients.every((c) => !c.error)).toBe(true);
    for (const ep of [a, b]) {
      expect(ep.tcp.connectionCount).toBe(0);
      expect(ep.tcp.bufferMemory).toBe(0);
      expect(ep.tokens.size).toBe(0);
    }
    // The active closers' subflows wait out 2 MSL as records only.
    const tw = a.tcp.timeWaitStats.records + b.tcp.timeWaitStats.records;
    expect(tw).toBeGreaterThanOrEqual(N);
    const bytes = a.tcp.timeWaitStats.bytes + b.tcp.timeWaitStats.bytes;
    expect(bytes / tw).toBeLessThanOrEqual(1024);
  });
});
