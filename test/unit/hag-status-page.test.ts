// The HAG's live status (hag/status.ts) and its page (hag/status-page.ts): per-uplink rates from
// once-a-second samples of finished and open connections' subflow bytes, subflow RTTs, connections
// by protocol and state, subscribers, refusals by reason read back from the metric family, the
// worker field; the page shows each and escapes what clients chose.
import { describe, expect, it } from 'vitest';
import type { Session } from '../../hag/session.js';
import { HagStatusBoard, type StatusSource } from '../../hag/status.js';
import { renderHagPage } from '../../hag/status-page.js';
import { mergeStatus } from '../../hag/workers/merge-status.js';
import { MetricFamily } from '../../src/daemon/exposition.js';
import { TcpState } from '../../src/tcp/state.js';

/** A socket as the tally reads it. */
interface FakeSock {
  state: TcpState;
  rtt: { srtt: number };
  stats: { bytesIn: number; bytesOut: number };
}

function fakeSession(proto: string, state: string, client: string, subflows: [string, FakeSock][]): Session {
  return {
    proto,
    state,
    client,
    eachSubflow: (fn: (u: string, s: FakeSock) => void) => {
      for (const [u, s] of subflows) fn(u, s);
    },
  } as unknown as Session;
}

const sock = (srtt: number, bytesIn = 0, bytesOut = 0, state = TcpState.Established): FakeSock => ({
  state,
  rtt: { srtt },
  stats: { bytesIn, bytesOut },
});

function source(sessions: Session[]): StatusSource {
  const uplinkBytes = new MetricFamily('hag_uplink_bytes_total', 'counter', 'x');
  uplinkBytes.inc({ uplink: 'dsl', direction: 'down' }, 1_000_000);
  const refusals = new MetricFamily('hag_refusals_total', 'counter', 'x');
  refusals.inc({ proto: 'socks', reason: 'forbidden-destination' }, 3);
  refusals.inc({ proto: 'convert', reason: 'bad "cookie"\\' }, 1);
  const connections = new MetricFamily('hag_connections_total', 'counter', 'x');
  connections.inc({ proto: 'socks' }, 40);
  connections.inc({ proto: 'convert' }, 2);
  return { sessions, uplinks: ['dsl', 'lte'], uplinkBytes, refusals, connections };
}

describe('HAG status', () => {
  it('tallies uplinks, rates, RTTs, connections, subscribers and refusals', () => {
    const a = sock(12, 0, 0);
    const b = sock(40, 0, 0);
    const closedSf = sock(0, 500, 500, TcpState.Closed);
    const sessions = [
      fakeSession('socks', 'relay', '198.18.1.2', [
        ['dsl', a],
        ['lte', b],
        ['lte', closedSf],
      ]),
      fakeSession('socks', 'handshake', '198.18.1.2', []),
      fakeSession('convert', 'relay', '198.18.9.9', [['dsl', sock(20)]]),
    ];
    const src = source(sessions);
    const board = new HagStatusBoard();
    const t0 = 1_000_000;
    board.sample(src, t0);
    // Three seconds on, dsl carried 3 MB down and lte 300 kB up.
    a.stats.bytesOut += 3_000_000;
    b.stats.bytesIn += 300_000;
    for (let i = 1; i <= 3; i++) board.sample(src, t0 + i * 1000);
    const s = board.snapshot(
      src,
      { draining: false, capacity: 18_976, rssBytes: 90e6, bufferBytes: 0 },
      t0 + 3000,
    );
    expect(s.worker).toBe(0);
    expect(s.connections).toMatchObject({ open: 3, accepted: 42, byProto: { socks: 2, convert: 1 } });
    expect(s.connections.byState).toEqual({ relay: 2, handshake: 1 });
    expect(s.subscribers).toEqual({
      count: 2,
      busiest: [
        { client: '198.18.1.2', connections: 2 },
        { client: '198.18.9.9', connections: 1 },
      ],
    });
    const dsl = s.uplinks.find((u) => u.name === 'dsl')!;
    const lte = s.uplinks.find((u) => u.name === 'lte')!;
    expect(dsl.subflows).toBe(2);
    expect(lte.subflows).toBe(1); // the closed one carried bytes but is not open
    expect(dsl.bytesDown).toBe(4_000_000); // 1 MB of finished connections + 3 MB open
    expect(lte.bytesUp).toBe(300_500);
    expect(dsl.rateDownBps).toBeCloseTo(8_000_000, -3); // 3 MB in 3 s
    expect(lte.rateUpBps).toBeCloseTo(800_000, -3);
    expect(dsl.srttMs).toEqual({ median: 16, max: 20 });
    expect(lte.srttMs).toEqual({ median: 40, max: 40 });
    expect(dsl.history).toHaveLength(4);
    expect(s.refusals).toEqual([
      { reason: 'forbidden-destination', proto: 'socks', count: 3 },
      { reason: 'bad "cookie"\\', proto: 'convert', count: 1 },
    ]);

    const html = renderHagPage(s);
    expect(html).toContain('worker <b>0</b>');
    expect(html).toMatch(/<b class="open">3<\/b> open of 18976/);
    expect(html).toContain('2 socks, 1 convert');
    expect(html).toContain('<b class="subs">2</b>');
    expect(html).toMatch(
      /id="u-dsl"[\s\S]*?class="subflows">2 open[\s\S]*?class="tp">8\.0 Mbit\/s down, 0 bit\/s up/,
    );
    expect(html).toMatch(/id="u-lte"[\s\S]*?class="rtt">median 40\.0 ms, max 40\.0 ms/);
    expect(html).toContain('<svg class="chart"');
    expect(html).toContain('Refusals since start (4)');
    expect(html).toContain('bad &quot;cookie&quot;\\');
    expect(html).not.toContain('bad "cookie"');
  });

  it('with nothing open: no rates, no RTT, "none" rows, and draining said', () => {
    const src = source([]);
    const board = new HagStatusBoard(1);
    board.sample(src, 5000);
    const s = board.snapshot(
      src,
      { draining: true, capacity: Number.POSITIVE_INFINITY, rssBytes: 1, bufferBytes: 0 },
      5000,
    );
    expect(s.worker).toBe(1);
    expect(s.uplinks.map((u) => [u.name, u.rateDownBps, u.srttMs])).toEqual([
      ['dsl', 0, undefined],
      ['lte', 0, undefined],
    ]);
    const html = renderHagPage(s);
    expect(html).toContain('no open subflow');
    expect(html).toContain('<b class="down">draining</b>');
    expect(html).toMatch(/id="busiest"[\s\S]*?none/);
  });

  it("the supervisor's page: two workers added up, a subscriber on both counted once, a dead worker's row", () => {
    const mk = (worker: number, sessions: Session[], bytesOut: number) => {
      const src = source(sessions);
      const board = new HagStatusBoard(worker);
      board.sample(src, 1000);
      for (const s of sessions)
        s.eachSubflow((_u, k) => ((k as unknown as FakeSock).stats.bytesOut += bytesOut));
      board.sample(src, 2000);
      return board.snapshot(
        src,
        { draining: false, capacity: 100, rssBytes: 50e6, bufferBytes: 10, clients: true },
        2000,
      );
    };
    const w0 = mk(0, [fakeSession('socks', 'relay', '198.18.1.2', [['dsl', sock(10)]])], 1_000_000);
    const w1 = mk(
      1,
      [
        fakeSession('socks', 'relay', '198.18.1.2', [['dsl', sock(30)]]),
        fakeSession('convert', 'relay', '198.18.9.9', [['lte', sock(50)]]),
      ],
      500_000,
    );
    expect(w1.subscribers.all).toEqual([
      ['198.18.1.2', 1],
      ['198.18.9.9', 1],
    ]);
    const all = mergeStatus(
      [w0, w1],
      [
        { worker: 0, pid: 10, live: true, restarts: 0 },
        { worker: 1, pid: 11, live: true, restarts: 2 },
        { worker: 2, pid: undefined, live: false, restarts: 5 },
      ],
      { uptimeS: 60, draining: false, time: 2000 },
    );
    expect(all.worker).toBe('all');
    expect(all.connections).toMatchObject({
      open: 3,
      accepted: 84,
      byProto: { socks: 2, convert: 1 },
      capacity: 200,
    });
    // 198.18.1.2 has a connection on each worker: one subscriber with two connections.
    expect(all.subscribers).toEqual({
      count: 2,
      busiest: [
        { client: '198.18.1.2', connections: 2 },
        { client: '198.18.9.9', connections: 1 },
      ],
    });
    const dsl = all.uplinks.find((u) => u.name === 'dsl')!;
    expect(dsl.subflows).toBe(2);
    expect(dsl.rateDownBps).toBeCloseTo(w0.uplinks[0].rateDownBps + w1.uplinks[0].rateDownBps, 3);
    expect(dsl.rateDownBps).toBeCloseTo(12_000_000, -3); // 1 MB + 0.5 MB in 1 s
    expect(dsl.srttMs).toEqual({ median: 20, max: 30 });
    expect(dsl.history.map((h) => h.bytesDown)).toEqual([2_000_000, 3_500_000]); // with 1 MB finished on each
    expect(all.refusals).toEqual([
      { reason: 'forbidden-destination', proto: 'socks', count: 6 },
      { reason: 'bad "cookie"\\', proto: 'convert', count: 2 },
    ]);
    expect(all.memory).toEqual({ rssBytes: 100e6, bufferBytes: 20 });
    expect(all.workers?.map((w) => [w.worker, w.live, w.open, w.subscribers, w.restarts])).toEqual([
      [0, true, 1, 1, 0],
      [1, true, 2, 2, 2],
      [2, false, 0, 0, 5],
    ]);
    const html = renderHagPage(all);
    expect(html).toContain('all <b>3</b> workers');
    expect(html).toMatch(
      /id="w-1"><td>1<\/td><td class="n">11<\/td><td>live<\/td><td class="n">2<\/td><td class="n open">2<\/td>/,
    );
    expect(html).toMatch(/id="w-2">[\s\S]*?<b class="down">down<\/b>/);
    expect(html).toMatch(/<b class="open">3<\/b> open of 200/);
    expect(renderHagPage(w0)).not.toContain('id="workers"');
  });
});
