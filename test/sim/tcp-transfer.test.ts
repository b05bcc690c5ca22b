// Our TCP over simulated links in virtual time: 50 MB each way at once, sha256 compared, over a
// clean 100 Mbit/s link with 20 ms one-way delay, with 1% random loss, with reordering, and with a
// 10 s outage in the middle. Seeded, so every run is the same run. Prints goodput and how much
// faster than real time the simulation ran.
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { BulkApp, tcpConn } from '../../src/sim/bulk.js';
import { type DuplexConfig, type DuplexLink, Network } from '../../src/sim/index.js';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { TcpState } from '../../src/tcp/state.js';

const A = Uint8Array.of(198, 18, 0, 1);
const B = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;

interface Result {
  up: BulkApp;
  down: BulkApp;
  virtualMs: number;
  wallMs: number;
  client: TcpSocket;
}

function transfer(
  link: DuplexConfig,
  bytes: number,
  seed: number,
  setup?: (link: DuplexLink) => void,
  downBytes = bytes,
): Result {
  const net = new Network({ seed });
  const tcp = { sendBuffer: 4 << 20, recvBuffer: 4 << 20 };
  const a = new TcpStack({ tcp });
  const b = new TcpStack({ tcp });
  net.addNode('a', a);
  net.addNode('b', b);
  const l = net.connect('a', 'b', { name: 'link', ...link });
  net.route('a', { dst: '198.19.0.0/16', via: l });
  net.route('b', { dst: '198.18.0.0/16', via: l });
  setup?.(l);
  let down: BulkApp | undefined;
  b.listen({
    port: 5001,
    onAccept: (s) => (down = new BulkApp(tcpConn(b, s), downBytes, seed + 1, () => net.now)),
  });
  const client = a.connect(net.now, { local: A, remote: B, remotePort: 5001 });
  const up = new BulkApp(tcpConn(a, client), bytes, seed, () => net.now);
  const t0 = performance.now();
  const finished = () => client.state === TcpState.TimeWait || client.state === TcpState.Closed;
  net.runUntil(() => !!down && up.ended && down.ended && finished(), 600_000);
  const wallMs = performance.now() - t0;
  if (!down) throw new Error('no connection');
  return { up, down, virtualMs: net.now, wallMs, client };
}

function expectIntact(r: Result, bytes: number, downBytes = bytes): void {
  expect(r.up.received).toBe(downBytes);
  expect(r.down.received).toBe(bytes);
  expect(r.down.rxHash.copy().digest('hex')).toBe(r.up.txHash.copy().digest('hex'));
  expect(r.up.rxHash.copy().digest('hex')).toBe(r.down.txHash.copy().digest('hex'));
  expect(r.client.state === TcpState.TimeWait || r.client.state === TcpState.Closed).toBe(true);
}

function report(name: string, r: Result): void {
  console.log(
    `${name}: up ${(r.down.goodput / 1e6).toFixed(1)} Mbit/s, down ${(r.up.goodput / 1e6).toFixed(1)} Mbit/s, ` +
      `${(r.virtualMs / 1000).toFixed(1)} s simulated in ${(r.wallMs / 1000).toFixed(1)} s ` +
      `(${(r.virtualMs / r.wallMs).toFixed(1)}x real time), ${r.client.stats.retransSegs} retransmissions, ` +
      `${r.client.stats.lostRetransmits} lost retransmissions found, ${r.client.stats.timeouts} timeouts`,
  );
}

const LINK = { rate: 100e6, delay: 20 };

describe('TCP over simulated links, 50 MB each way at once', () => {
  it('(a) clean 100 Mbit/s, 20 ms: intact both ways at once', () => {
    const r = transfer(LINK, 50 * MB, 1);
    report('clean, both ways at once', r);
    expectIntact(r, 50 * MB);
  }, 120_000);

  it('(a) clean 100 Mbit/s, 20 ms: one way at a time, goodput at least 90% of the link rate', () => {
    const up = transfer(LINK, 50 * MB, 5, undefined, 0);
    report('clean, upload alone', up);
    expectIntact(up, 50 * MB, 0);
    const down = transfer(LINK, 0, 6, undefined, 50 * MB);
    report('clean, download alone', down);
    expectIntact(down, 0, 50 * MB);
    expect(up.down.goodput).toBeGreaterThan(0.9 * 100e6);
    expect(down.up.goodput).toBeGreaterThan(0.9 * 100e6);
  }, 120_000);

  it('(b) 1% random loss both ways', () => {
    const r = transfer({ ...LINK, loss: 0.01 }, 50 * MB, 2);
    report('1% loss', r);
    expectIntact(r, 50 * MB);
    expect(r.client.stats.retransSegs).toBeGreaterThan(0);
    // Lost retransmissions are found from later SACKs, not left to the RTO (4 RTOs without it).
    expect(r.client.stats.lostRetransmits).toBeGreaterThan(0);
    expect(r.client.stats.timeouts).toBeLessThanOrEqual(1);
  }, 120_000);

  it('(c) reordering: 2% of packets held back 5 ms', () => {
    const r = transfer({ ...LINK, reorder: 0.02, reorderDelay: 5 }, 50 * MB, 3);
    report('reordering', r);
    expectIntact(r, 50 * MB);
  }, 120_000);

  it('(d) a 10 s outage in the middle of the transfer', () => {
    const r = transfer(LINK, 50 * MB, 4, (link) => link.outage(2000, 12_000));
    report('outage', r);
    expectIntact(r, 50 * MB);
    expect(r.client.stats.timeouts).toBeGreaterThan(0);
    expect(r.virtualMs).toBeGreaterThan(12_000);
  }, 120_000);
});
