// A SYN flood (RFC 4987) against the server in virtual time: thousands of spoofed SYNs a second
// fill its SYN queues, and legitimate clients (plain TCP, and MPTCP with a second subflow joined
// during the flood) still connect at once, through SYN cookies, and move their data intact. The
// half-open entries of the flood leave within seconds (2 SYN/ACK retransmissions under
// pressure), and the counters say what happened.
import { describe, expect, it } from 'vitest';
import type { SansIo } from '../../src/driver.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { BulkApp, mptcpConn, tcpConn } from '../../src/sim/bulk.js';
import { Network } from '../../src/sim/index.js';
import { Rng } from '../../src/sim/rng.js';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { TcpState } from '../../src/tcp/state.js';
import { tcpPacket } from './nodes.js';

const A1 = Uint8Array.of(198, 18, 1, 2);
const A2 = Uint8Array.of(198, 18, 2, 2);
const C = Uint8Array.of(198, 18, 3, 2);
const B = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;

/** Spoofed SYNs from random sources in 198.18.128.0/17, `rate` a second from `start` for `durationMs`. */
class SynFlood implements SansIo {
  sent = 0;
  private readonly count: number;

  constructor(
    private readonly rng: Rng,
    private readonly rate: number,
    private readonly start: number,
    durationMs: number,
    private readonly ports: number[],
  ) {
    this.count = Math.round((rate * durationMs) / 1000);
  }

  private get next(): number {
    return this.sent < this.count ? this.start + (this.sent * 1000) / this.rate : Number.POSITIVE_INFINITY;
  }

  input(): void {}

  pollTransmit(now: number, buf: Uint8Array): number {
    if (now < this.next) return 0;
    const r = this.rng;
    const src = `198.18.${128 + Math.floor(r.next() * 128)}.${1 + Math.floor(r.next() * 254)}`;
    const p = tcpPacket({
      src,
      dst: '198.19.0.1',
      sport: 1024 + Math.floor(r.next() * 60000),
      dport: this.ports[this.sent % this.ports.length],
      seq: Math.floor(r.next() * 0x1_0000_0000),
      flags: 0x02,
      options: [{ type: 'mss', mss: 1460 }],
    });
    buf.set(p);
    this.sent++;
    return p.length;
  }

  pollTimeout(): number {
    return this.next;
  }

  handleTimeout(): void {}
  setWaker(): void {}
}

describe('SYN flood', () => {
  it('10,000 spoofed SYN/s: plain TCP and MPTCP clients (with a join) connect at once and transfer intact', () => {
    const net = new Network({ seed: 4987 });
    const server = new MptcpEndpoint();
    const mp = new MptcpEndpoint();
    const plain = new TcpStack();
    const flood = new SynFlood(new Rng(4987), 10_000, 0, 3000, [5001, 80]);
    net.addNode('b', server);
    net.addNode('a', mp);
    net.addNode('c', plain);
    net.addNode('x', flood);
    const l1 = net.connect('a', 'b', { name: 'dsl', rate: 20e6, delay: 10 });
    const l2 = net.connect('a', 'b', { name: 'lte', rate: 40e6, delay: 30 });
    const lc = net.connect('c', 'b', { name: 'lan', rate: 50e6, delay: 5 });
    const lx = net.connect('x', 'b', { name: 'attack', rate: 1e9, delay: 2 });
    net.route('a', { src: '198.18.1.0/24', via: l1 });
    net.route('a', { src: '198.18.2.0/24', via: l2 });
    net.route('b', { dst: '198.18.1.0/24', via: l1 });
    net.route('b', { dst: '198.18.2.0/24', via: l2 });
    net.route('b', { dst: '198.18.3.0/24', via: lc });
    net.route('b', { dst: '198.18.128.0/17', via: lx });

    let mpServer: MptcpConnection | undefined;
    let mpDown: BulkApp | undefined;
    server.listen(
      5001,
      (c) => {
        mpServer = c;
        mpDown = new BulkApp(mptcpConn(server, c), 8 * MB, 2, () => net.now);
      },
      1024,
    );
    let tcpDown: BulkApp | undefined;
    server.tcp.listen({
      port: 80,
      backlog: 1024,
      onAccept: (s) => (tcpDown = new BulkApp(tcpConn(server.tcp, s), MB, 4, () => net.now)),
    });

    // The queues are full after about 0.2 s of flood.
    net.runUntil(() => false, 1000);
    expect(server.tcp.connectionCount).toBe(2048);

    let plainUp: BulkApp | undefined;
    let mpUp: BulkApp | undefined;
    let sock: TcpSocket | undefined;
    let client: MptcpConnection | undefined;
    net.at(1000, (now) => {
      sock = plain.connect(now, { local: C, remote: B, remotePort: 80 });
      plainUp = new BulkApp(tcpConn(plain, sock), MB, 3, () => net.now);
      client = mp.connect(now, { local: A1, remote: B, remotePort: 5001 });
      mpUp = new BulkApp(mptcpConn(mp, client), 8 * MB, 1, () => net.now);
    });
    // At once: one round trip each (10 ms and 20 ms), no SYN sent again.
    net.runUntil(
      () => sock !== undefined && sock.state !== TcpState.SynSent && client?.fullyEstablished === true,
      200,
    );
    expect(net.now).toBeLessThan(1100);
    expect(sock?.stats.retransSegs).toBe(0);
    const join = mp.join(net.now, client!, A2, 1);
    const joinedAt = net.now;
    net.runUntil(() => mpServer?.subflows.length === 2 && join.state === TcpState.Established, 1000);
    expect(net.now - joinedAt).toBeLessThan(150); // one 60 ms round trip and the fourth ACK
    expect(mpServer?.subflows.length).toBe(2);
    expect(server.mib.MPJoinAckRx).toBe(1);

    net.runUntil(() => !!(plainUp?.ended && tcpDown?.ended && mpUp?.ended && mpDown?.ended), 60_000);
    const hex = (a: BulkApp, d: 'tx' | 'rx') => (d === 'tx' ? a.txHash : a.rxHash).copy().digest('hex');
    expect(tcpDown?.received).toBe(MB);
    expect(plainUp?.received).toBe(MB);
    expect(hex(tcpDown!, 'rx')).toBe(hex(plainUp!, 'tx'));
    expect(hex(plainUp!, 'rx')).toBe(hex(tcpDown!, 'tx'));
    expect(mpDown?.received).toBe(8 * MB);
    expect(mpUp?.received).toBe(8 * MB);
    expect(hex(mpDown!, 'rx')).toBe(hex(mpUp!, 'tx'));
    expect(hex(mpUp!, 'rx')).toBe(hex(mpDown!, 'tx'));
    // The join carried data both ways.
    expect(join.stats.bytesOut).toBeGreaterThan(MB);
    expect(join.stats.bytesIn).toBeGreaterThan(MB);

    const mib = server.tcp.mib;
    expect(mib.SyncookiesSent).toBeGreaterThan(20_000);
    expect(mib.SyncookiesRecv).toBe(3); // the plain connection, the MPTCP one and its join
    expect(mib.SyncookiesFailed).toBe(0);
    expect(mib.TCPReqQFullDoCookies).toBe(mib.SyncookiesSent);
    expect(mib.TCPReqQFullDrop).toBe(0);
    expect(server.mib.MPCapableACKRX).toBe(1);
    expect(server.mib.MPJoinSynRx).toBe(1);
    expect(server.joinRequests.size).toBe(0); // the join's third ACK took its request

    // After the flood, the half-open entries are gone within seconds, not minutes.
    net.runUntil(() => net.now >= 3000 + 10_000, 60_000);
    expect(flood.sent).toBe(30_000);
    expect(server.tcp.halfOpenCount).toBe(0);
    expect(server.tcp.connectionCount).toBeLessThanOrEqual(4);
  });
});
