// Memory of idle MPTCP connections (issue 17 item 3), in simulation: once no data has moved for
// the idle period (IDLE_TRIM_MS, 1 s), a connection gives back what only traffic needs (its send
// and receive rings, its sent ranges, its subflows' mapping tables), a ring still holding unread
// bytes shrinks to them, and the next data grows them again, every byte in order.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { Network } from '../../src/sim/index.js';

const A = Uint8Array.of(198, 18, 0, 1);
const B = Uint8Array.of(198, 19, 0, 1);

function pattern(from: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((from + i) * 13 + ((from + i) >> 8)) & 0xff;
  return b;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function pair(delay: number) {
  const a = new MptcpEndpoint();
  const b = new MptcpEndpoint();
  const net = new Network({ seed: 17 });
  net.addNode('a', a);
  net.addNode('b', b);
  const l = net.connect('a', 'b', { name: 'l', rate: 100e6, delay });
  net.route('a', { dst: '198.19.0.0/16', via: l });
  net.route('b', { dst: '198.18.0.0/16', via: l });
  return { a, b, net };
}

describe('idle MPTCP connections', () => {
  it('give their buffers back when idle, shrink to unread bytes, and grow again without a byte lost', () => {
    const { a, b, net } = pair(5);
    let server: MptcpConnection | undefined;
    b.listen(80, (c) => {
      server = c;
    });
    const client = a.connect(net.now, { local: A, remote: B, remotePort: 80 });
    a.wake(client);
    net.runUntil(() => !!server && client.established, 5_000);
    const srv = server!;

    // What the server has read, and what the client sends: 2 x 200 KB with an idle period between.
    const got: Uint8Array[] = [];
    let gotBytes = 0;
    const read = (max: number) => {
      const buf = new Uint8Array(Math.min(max, srv.readableBytes));
      const n = srv.recv(buf);
      got.push(buf.subarray(0, n));
      gotBytes += n;
      b.wake(srv);
    };
    const sent = pattern(0, 400_000);
    let sentBytes = 0;
    let target = 0;
    const sendUpTo = (end: number) => {
      target = end;
      while (sentBytes < target) {
        const n = client.send(sent, sentBytes, target - sentBytes);
        if (n === 0) break;
        sentBytes += n;
      }
      a.wake(client);
    };
    client.events.onWritable = () => sendUpTo(target);

    // Phase 1: 200 KB; the server reads all but the last 3,000 bytes.
    sendUpTo(200_000);
    net.runUntil(() => srv.readableBytes + gotBytes >= 200_000 && sentBytes >= 200_000, 10_000);
    read(200_000 - 3000);
    net.runUntil(() => client.bufferMemory === 0, 200);
    expect(client.bufferMemory).toBeGreaterThan(0); // not yet idle for long enough
    // Idle: the client's send ring and tables go; the server's receive ring shrinks to 4 KB.
    net.run(net.now + 2_500);
    expect(client.bufferMemory).toBe(0);
    expect(srv.readableBytes).toBe(3000);
    expect(srv.bufferMemory).toBe(4096);
    read(3000);
    net.run(net.now + 2_500);
    expect(srv.bufferMemory).toBe(0);

    // Phase 2: the next 200 KB grow the rings again; every byte arrives, in order.
    sendUpTo(400_000);
    net.runUntil(() => {
      if (srv.readableBytes > 0) read(srv.readableBytes);
      return gotBytes >= 400_000;
    }, 10_000);
    expect(gotBytes).toBe(400_000);
    expect(sha(Buffer.concat(got))).toBe(sha(sent));
    net.run(net.now + 2_500);
    expect(client.bufferMemory + srv.bufferMemory).toBe(0);
    expect(a.tcp.bufferMemory + b.tcp.bufferMemory).toBe(0);
  });

  it('give them back also when the last DATA_ACK comes after the idle period (RTT 3 s)', () => {
    const { a, b, net } = pair(1500);
    let server: MptcpConnection | undefined;
    b.listen(80, (c) => {
      server = c;
      c.events.onReadable = () => c.recv(new Uint8Array(1 << 16));
    });
    const client = a.connect(net.now, { local: A, remote: B, remotePort: 80 });
    client.events.onEstablished = () => {
      client.send(pattern(0, 5000));
      a.wake(client);
    };
    a.wake(client);
    // The idle trim looks 1-2 s after the send, with the data still unacknowledged (sendLen > 0);
    // the DATA_ACK comes 3 s after it, and nothing moves after that.
    net.run(net.now + 10_000);
    expect(server?.readableBytes).toBe(0);
    expect(client.bufferMemory).toBe(0);
    expect(server!.bufferMemory).toBe(0);
  });
});
