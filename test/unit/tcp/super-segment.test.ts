// The sender on a device that cuts TCP super-segments (TSO): one segment of whole MSS pieces,
// bounded by the congestion and peer windows, the pacer's quantum and the send buffer; ACKs of
// parts of it, SACK of parts and retransmission of a part behave as with the segments it stands
// for. recv() returns the pieces the kernel would cut (src/wire/gso-segment.ts), `written` the
// segments as the socket wrote them.
import { describe, expect, it } from 'vitest';
import { TxOffload } from '../../../src/tcp/offload.js';
import { ACK, Harness, LOCAL_ISS as L, type OutSeg, PSH, REMOTE_ISS as R, sackOptions } from './harness.js';

function tso(): TxOffload {
  const o = new TxOffload();
  o.csum = true;
  o.maxPacket = 65535;
  return o;
}

const SACK_OK = [{ type: 'mss' as const, mss: 100 }, { type: 'sack_permitted' as const }];

const at = (segs: OutSeg[]) => segs.map((s) => [s.seq - L - 1, s.payload.length, s.flags]);

describe('TCP super-segments (TSO)', () => {
  it('the initial window goes as one super-segment of whole MSS pieces, as the segments it stands for', () => {
    const plain = new Harness().established();
    const h = new Harness({}, tso()).established();
    const data = 'z'.repeat(40_000);
    plain.write(data);
    h.write(data);
    const want = plain.recv();
    expect(want.length).toBe(10); // RFC 6928: ten segments
    expect(h.recv()).toEqual(want);
    expect(h.written).toEqual([[10 * 1460, 1460]]);
    expect(h.sock.stats.segsOut).toBe(plain.sock.stats.segsOut);
  });

  it('the last of the data ends the super-segment short, with PSH only on its last piece', () => {
    const h = new Harness({}, tso()).established();
    h.write('q'.repeat(3000));
    const out = h.recv();
    expect(h.written).toEqual([[3000, 1460]]);
    expect(at(out)).toEqual([
      [0, 1460, ACK],
      [1460, 1460, ACK],
      [2920, 80, ACK | PSH],
    ]);
  });

  it('ACKs of pieces open the window by bytes: the same pieces follow as without TSO', () => {
    const plain = new Harness({ sendBuffer: 1 << 20 }).established();
    const h = new Harness({ sendBuffer: 1 << 20 }, tso()).established();
    const data = 'a'.repeat(200_000);
    plain.write(data);
    h.write(data);
    for (let round = 0; round < 4; round++) {
      const want = plain.recv();
      const got = h.recv();
      expect(at(got)).toEqual(at(want));
      expect(h.sock.cc.window).toBe(plain.sock.cc.window);
      // The peer acknowledges every second piece, 10 ms later.
      const t = plain.now + 10;
      plain.at(t);
      h.at(t);
      const end = want[want.length - 1].seq + want[want.length - 1].payload.length;
      for (let i = 1; i < want.length; i += 2) {
        const ack = i + 1 < want.length ? want[i + 1].seq : end;
        plain.send({ seq: R + 1, ack, flags: 0 });
        h.send({ seq: R + 1, ack, flags: 0 });
      }
      if (want.length % 2 === 1) {
        plain.send({ seq: R + 1, ack: end, flags: 0 });
        h.send({ seq: R + 1, ack: end, flags: 0 });
      }
    }
    // Fewer, larger writes: slow start doubled the window each round.
    expect(h.written.length).toBeLessThan(plain.sock.stats.segsOut / 10);
    expect(h.sock.stats.bytesOut).toBe(plain.sock.stats.bytesOut);
  });

  it('SACK of later pieces marks the first one lost: one MSS is retransmitted (RFC 6675)', () => {
    const h = new Harness({ sack: true }, tso()).established({ options: SACK_OK });
    h.write('y'.repeat(1000));
    expect(h.recv().length).toBe(10);
    expect(h.written).toEqual([[1000, 100]]);
    // The first piece is lost; the peer SACKs the others as they arrive.
    h.send({ seq: R + 1, ack: L + 1, flags: 0, options: sackOptions([[100, 200]]) });
    h.send({ seq: R + 1, ack: L + 1, flags: 0, options: sackOptions([[100, 300]]) });
    expect(h.recv()).toEqual([]);
    h.send({ seq: R + 1, ack: L + 1, flags: 0, options: sackOptions([[100, 400]]) });
    expect(at(h.recv())).toEqual([[0, 100, ACK]]);
    expect(h.written[1]).toEqual([100, 100]);
    expect(h.sock.stats.retransSegs).toBe(1);
    expect(h.sock.stats.retransBytes).toBe(100);
    h.send({ seq: R + 1, ack: L + 1001, flags: 0 });
    expect(h.sock.sendQueued).toBe(0);
  });

  it('at the RTO the first unacknowledged part of a super-segment goes again, one MSS at a time', () => {
    const opts = { options: [{ type: 'mss' as const, mss: 100 }] };
    const plain = new Harness().established(opts);
    const h = new Harness({}, tso()).established(opts);
    for (const x of [plain, h]) {
      x.write('r'.repeat(1000));
      x.recv();
      // Half of it arrives; the rest is lost.
      x.send({ seq: R + 1, ack: L + 501, flags: 0 });
      x.at(x.sock.pollAt);
    }
    expect(h.written).toEqual([[1000, 100]]);
    expect(at(h.recv())).toEqual([[500, 100, ACK]]);
    expect(at(plain.recv())).toEqual([[500, 100, ACK]]);
    expect(h.sock.stats.timeouts).toBe(1);
    expect(h.sock.cc.window).toBe(100); // RFC 5681 3.1: the loss window
    // Go-back-N through the rest, as without TSO: each retransmission one MSS.
    for (let ack = 601; ack <= 1001; ack += 100) {
      plain.send({ seq: R + 1, ack: L + ack, flags: 0 });
      h.send({ seq: R + 1, ack: L + ack, flags: 0 });
      expect(at(h.recv())).toEqual(at(plain.recv()));
    }
    expect(h.written.slice(1).every(([len, size]) => len === 100 && size === 100)).toBe(true);
    expect(h.sock.stats.retransSegs).toBe(plain.sock.stats.retransSegs);
    expect(h.sock.sendQueued).toBe(0);
  });

  it("with BBR a super-segment is at most the pacer's quantum: 1 ms at the pacing rate, at least 2 MSS", () => {
    const h = new Harness({ congestionControl: 'bbr' }, tso());
    h.synSent();
    h.now = 100; // a 100 ms RTT: BBR's rate is a few hundred bytes per ms
    h.send({ seq: R, ack: L + 1, flags: 0x02, options: [{ type: 'mss', mss: 1460 }] });
    h.recv();
    h.write('b'.repeat(100_000));
    h.recv();
    expect(h.written).toEqual([[10 * 1460, 1460]]); // the initial window, before any rate sample
    h.at(200);
    h.send({ seq: R + 1, ack: L + 1 + 10 * 1460, flags: 0 });
    const rate = h.sock.cc.pacingRate; // bytes per ms, from the first delivery-rate sample
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThan(2 * 1460);
    h.recv();
    expect(h.written[1]).toEqual([2 * 1460, 1460]);
    // The rest waits for the pacer, which lets the next quantum go when it is due.
    const due = h.sock.pollAt;
    expect(due).toBeGreaterThan(h.now);
    h.at(due);
    h.recv();
    expect(h.written[2]).toEqual([2 * 1460, 1460]);
  });
});
