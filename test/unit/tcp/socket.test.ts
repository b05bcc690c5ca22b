// Per-segment tests of the TCP state machine in the smoltcp style: a socket in a given state, one
// segment in, exactly the segments expected out. Named test_<state>_<event> in spirit:
// "<state>: <event>". RFC 9293 section 3.10.7 unless another RFC is named.
import { describe, expect, it } from 'vitest';
import { TcpState } from '../../../src/tcp/state.js';
import { ACK, FIN, Harness, LOCAL_ISS as L, PSH, REMOTE_ISS as R, RST, SYN, sackOptions } from './harness.js';

const MSS = [{ type: 'mss' as const, mss: 1460 }];
const W = 65535;

describe('opening (RFC 9293 3.5, figure 6 and 7)', () => {
  it('CLOSED: connect sends a SYN with our MSS and moves to SYN-SENT', () => {
    const h = new Harness();
    h.sock.connect(0, L);
    expect(h.sock.state).toBe(TcpState.SynSent);
    expect(h.recv()).toEqual([{ seq: L, ack: 0, flags: SYN, window: W, payload: '', options: MSS }]);
    expect(h.recv()).toEqual([]);
  });

  it('SYN-SENT: SYN/ACK establishes and is acknowledged', () => {
    const h = new Harness().synSent();
    let established = 0;
    h.sock.events.onEstablished = () => established++;
    h.send({ seq: R, ack: L + 1, flags: SYN, options: MSS });
    expect(h.sock.state).toBe(TcpState.Established);
    expect(established).toBe(1);
    expect(h.recv()).toEqual([{ seq: L + 1, ack: R + 1, flags: ACK, window: W, payload: '', options: [] }]);
  });

  it('SYN-SENT: SYN without ACK is a simultaneous open: SYN/ACK, then ESTABLISHED on ACK', () => {
    const h = new Harness().synSent();
    h.send({ seq: R, flags: SYN, options: MSS });
    expect(h.sock.state).toBe(TcpState.SynReceived);
    expect(h.recv()).toEqual([
      { seq: L, ack: R + 1, flags: SYN | ACK, window: W, payload: '', options: MSS },
    ]);
    h.send({ seq: R + 1, ack: L + 1, flags: 0 });
    expect(h.sock.state).toBe(TcpState.Established);
  });

  it('SYN-SENT: RST acknowledging our SYN means refused', () => {
    const h = new Harness().synSent();
    h.send({ seq: 0, ack: L + 1, flags: RST });
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.sock.error?.code).toBe('ECONNREFUSED');
    expect(h.recv()).toEqual([]);
  });

  it('SYN-SENT: RST without an acceptable ACK is ignored', () => {
    const h = new Harness().synSent();
    h.send({ seq: 0, ack: L + 5, flags: RST });
    h.send({ seq: 0, flags: RST });
    expect(h.sock.state).toBe(TcpState.SynSent);
  });

  it('SYN-SENT: an unacceptable ACK draws a RST with its ack as sequence number', () => {
    const h = new Harness().synSent();
    h.send({ seq: R, ack: L + 100, flags: SYN });
    expect(h.sock.state).toBe(TcpState.SynSent);
    expect(h.recv()).toEqual([{ seq: L + 100, ack: 0, flags: RST, window: 0, payload: '', options: [] }]);
  });

  it('SYN-RECEIVED: the ACK of our SYN/ACK establishes', () => {
    const h = new Harness().synReceived();
    h.send({ seq: R + 1, ack: L + 1, flags: 0 });
    expect(h.sock.state).toBe(TcpState.Established);
    expect(h.recv()).toEqual([]);
  });

  it('SYN-RECEIVED: a retransmitted SYN repeats the SYN/ACK', () => {
    const h = new Harness().synReceived();
    h.send({ seq: R, flags: SYN, options: MSS });
    expect(h.recv()).toEqual([
      { seq: L, ack: R + 1, flags: SYN | ACK, window: W, payload: '', options: MSS },
    ]);
  });

  it('SYN-RECEIVED: RST at rcv.nxt closes (refused)', () => {
    const h = new Harness().synReceived();
    h.send({ seq: R + 1, flags: RST });
    expect(h.sock.state).toBe(TcpState.Closed);
  });

  it('SYN-RECEIVED: a bad ACK draws a RST', () => {
    const h = new Harness().synReceived();
    h.send({ seq: R + 1, ack: L + 7, flags: 0 });
    expect(h.sock.state).toBe(TcpState.SynReceived);
    expect(h.recv()).toEqual([{ seq: L + 7, ack: 0, flags: RST, window: 0, payload: '', options: [] }]);
  });

  it('SYN-SENT: close returns to CLOSED without sending anything', () => {
    const h = new Harness().synSent();
    h.sock.close();
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.sock.error).toBeUndefined();
    expect(h.recv()).toEqual([]);
  });

  it('SYN-RECEIVED: close waits for the handshake, then sends FIN (FIN-WAIT-1)', () => {
    const h = new Harness().synReceived();
    h.sock.close();
    expect(h.sock.state).toBe(TcpState.SynReceived);
    h.send({ seq: R + 1, ack: L + 1, flags: 0 });
    expect(h.sock.state).toBe(TcpState.FinWait1);
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 1, flags: ACK | FIN, window: W, payload: '', options: [] },
    ]);
  });

  it('SYN-RECEIVED: the SYN/ACK is retransmitted at the RTO', () => {
    const h = new Harness().synReceived();
    h.at(h.sock.pollAt);
    expect(h.recv()).toEqual([
      { seq: L, ack: R + 1, flags: SYN | ACK, window: W, payload: '', options: MSS },
    ]);
  });

  it('SYN-SENT: the SYN is retransmitted with backoff, then the attempt times out', () => {
    const h = new Harness({ synRetries: 2 }).synSent();
    const rto1 = h.sock.pollAt;
    expect(rto1).toBe(1000); // RFC 6298 2.1: initial RTO of 1 s
    h.at(rto1);
    expect(h.recv().map((s) => s.flags)).toEqual([SYN]);
    const rto2 = h.sock.pollAt;
    expect(rto2 - rto1).toBe(2000); // RFC 6298 5.5: doubled
    h.at(rto2);
    expect(h.recv().map((s) => s.flags)).toEqual([SYN]);
    h.at(h.sock.pollAt);
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.sock.error?.code).toBe('ETIMEDOUT');
  });
});

describe('data transfer', () => {
  it('ESTABLISHED: data is sent, acknowledged, and the retransmission timer stops', () => {
    const h = new Harness().established();
    expect(h.write('hello')).toBe(5);
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 1, flags: ACK | PSH, window: W, payload: 'hello', options: [] },
    ]);
    expect(h.sock.pollAt).toBeLessThan(Number.POSITIVE_INFINITY);
    h.send({ seq: R + 1, ack: L + 6, flags: 0 });
    expect(h.sock.sendQueued).toBe(0);
    expect(h.sock.pollAt).toBe(Number.POSITIVE_INFINITY);
  });

  it('ESTABLISHED: one segment is acknowledged after the delayed-ACK timeout, two at once', () => {
    const h = new Harness().established();
    h.send({ seq: R + 1, ack: L + 1, flags: 0, payload: 'abc' });
    expect(h.recv()).toEqual([]);
    expect(h.sock.pollAt).toBe(40);
    h.at(40);
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 4, flags: ACK, window: W - 3, payload: '', options: [] },
    ]);
    h.send({ seq: R + 4, ack: L + 1, flags: 0, payload: 'de' });
    h.send({ seq: R + 6, ack: L + 1, flags: 0, payload: 'fg' });
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 8, flags: ACK, window: W - 7, payload: '', options: [] },
    ]);
    expect(h.read()).toBe('abcdefg');
  });

  it('ESTABLISHED: a GRO super-packet of three MSS is taken whole and acknowledged at once', () => {
    const h = new Harness().established();
    const data = 'x'.repeat(3 * 1460);
    h.send({ seq: R + 1, ack: L + 1, flags: 0, payload: data });
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 1 + data.length, flags: ACK, window: W - data.length, payload: '', options: [] },
    ]);
    expect(h.read()).toBe(data);
  });

  it('ESTABLISHED: out-of-order data is acknowledged at once (with SACK when agreed) and joined', () => {
    const h = new Harness({ sack: true }).established({ options: [...MSS, { type: 'sack_permitted' }] });
    h.send({ seq: R + 4, ack: L + 1, flags: 0, payload: 'def' });
    expect(h.recv()).toEqual([
      {
        seq: L + 1,
        ack: R + 1,
        flags: ACK,
        window: W,
        payload: '',
        options: [
          { type: 'nop' },
          { type: 'nop' },
          { type: 'sack', blocks: [{ left: R + 4, right: R + 7 }] },
        ],
      },
    ]);
    h.send({ seq: R + 1, ack: L + 1, flags: 0, payload: 'abc' });
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 7, flags: ACK, window: W - 6, payload: '', options: [] },
    ]);
    expect(h.read()).toBe('abcdef');
  });

  it('ESTABLISHED: a segment entirely left of the window is acknowledged and dropped', () => {
    const h = new Harness().established();
    h.send({ seq: R + 1, ack: L + 1, flags: 0, payload: 'ab' });
    h.send({ seq: R + 1, ack: L + 1, flags: 0, payload: 'ab' });
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 3, flags: ACK, window: W - 2, payload: '', options: [] },
    ]);
    expect(h.read()).toBe('ab');
  });

  it('ESTABLISHED: Nagle holds a small segment while data is unacknowledged', () => {
    const h = new Harness({ nagle: true }).established();
    h.write('a');
    expect(h.recv().map((s) => s.payload)).toEqual(['a']);
    h.write('b');
    expect(h.recv()).toEqual([]);
    h.send({ seq: R + 1, ack: L + 2, flags: 0 });
    expect(h.recv().map((s) => s.payload)).toEqual(['b']);
  });

  it('ESTABLISHED: with Nagle off small segments go at once', () => {
    const h = new Harness({ nagle: false }).established();
    h.write('a');
    h.recv();
    h.write('b');
    expect(h.recv().map((s) => s.payload)).toEqual(['b']);
  });

  it('ESTABLISHED: segments are cut at the MSS the peer announced', () => {
    const h = new Harness().established({ options: [{ type: 'mss', mss: 100 }] });
    h.write('x'.repeat(250));
    expect(h.recv().map((s) => s.payload.length)).toEqual([100, 100, 50]);
  });

  it('ESTABLISHED: an ACK for data not yet sent is acknowledged and ignored (RFC 5961 5.2)', () => {
    const h = new Harness().established();
    h.send({ seq: R + 1, ack: L + 50, flags: 0 });
    expect(h.recv()).toEqual([{ seq: L + 1, ack: R + 1, flags: ACK, window: W, payload: '', options: [] }]);
    expect(h.sock.sndUna).toBe(L + 1);
  });
});

describe('closing (RFC 9293 3.6, figures 12 and 13)', () => {
  it('ESTABLISHED: close sends FIN (FIN-WAIT-1); its ACK gives FIN-WAIT-2; the peer FIN gives TIME-WAIT', () => {
    const h = new Harness().established();
    h.sock.close();
    expect(h.sock.state).toBe(TcpState.FinWait1);
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 1, flags: ACK | FIN, window: W, payload: '', options: [] },
    ]);
    h.send({ seq: R + 1, ack: L + 2, flags: 0 });
    expect(h.sock.state).toBe(TcpState.FinWait2);
    h.send({ seq: R + 1, ack: L + 2, flags: FIN });
    expect(h.sock.state).toBe(TcpState.TimeWait);
    expect(h.recv()).toEqual([{ seq: L + 2, ack: R + 2, flags: ACK, window: W, payload: '', options: [] }]);
    h.at(500);
    expect(h.sock.state).toBe(TcpState.TimeWait);
    h.at(1000);
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.sock.error).toBeUndefined();
  });

  it('ESTABLISHED: data then close: the FIN rides on the last data segment', () => {
    const h = new Harness().established();
    h.write('bye');
    h.sock.close();
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 1, flags: ACK | PSH | FIN, window: W, payload: 'bye', options: [] },
    ]);
  });

  it('FIN-WAIT-1: FIN with the ACK of ours goes straight to TIME-WAIT', () => {
    const h = new Harness().established();
    h.sock.close();
    h.recv();
    h.send({ seq: R + 1, ack: L + 2, flags: FIN });
    expect(h.sock.state).toBe(TcpState.TimeWait);
  });

  it('FIN-WAIT-1: a FIN that crosses ours gives CLOSING, then TIME-WAIT on the ACK', () => {
    const h = new Harness().established();
    h.sock.close();
    h.recv();
    h.send({ seq: R + 1, ack: L + 1, flags: FIN });
    expect(h.sock.state).toBe(TcpState.Closing);
    expect(h.recv()).toEqual([{ seq: L + 2, ack: R + 2, flags: ACK, window: W, payload: '', options: [] }]);
    h.send({ seq: R + 2, ack: L + 2, flags: 0 });
    expect(h.sock.state).toBe(TcpState.TimeWait);
  });

  it('ESTABLISHED: the peer FIN gives CLOSE-WAIT; close gives LAST-ACK; the ACK closes', () => {
    const h = new Harness().established();
    let ended = 0;
    h.sock.events.onEnd = () => ended++;
    h.send({ seq: R + 1, ack: L + 1, flags: FIN, payload: 'end' });
    expect(h.sock.state).toBe(TcpState.CloseWait);
    expect(ended).toBe(1);
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 5, flags: ACK, window: W - 3, payload: '', options: [] },
    ]);
    expect(h.read()).toBe('end');
    expect(h.sock.readEnded).toBe(true);
    // Half-close: we can still send.
    h.write('reply');
    h.sock.close();
    expect(h.sock.state).toBe(TcpState.LastAck);
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 5, flags: ACK | PSH | FIN, window: W, payload: 'reply', options: [] },
    ]);
    h.send({ seq: R + 5, ack: L + 7, flags: 0 });
    expect(h.sock.state).toBe(TcpState.Closed);
  });

  it('TIME-WAIT: a retransmitted FIN is acknowledged again', () => {
    const h = new Harness().established();
    h.sock.close();
    h.recv();
    h.send({ seq: R + 1, ack: L + 2, flags: FIN });
    h.recv();
    h.at(300);
    h.send({ seq: R + 1, ack: L + 2, flags: FIN });
    expect(h.recv()).toEqual([{ seq: L + 2, ack: R + 2, flags: ACK, window: W, payload: '', options: [] }]);
    expect(h.sock.pollAt).toBe(1300);
  });

  it('an out-of-order FIN waits for the data before it', () => {
    const h = new Harness().established();
    h.send({ seq: R + 3, ack: L + 1, flags: FIN, payload: 'cd' });
    expect(h.sock.state).toBe(TcpState.Established);
    h.send({ seq: R + 1, ack: L + 1, flags: 0, payload: 'ab' });
    expect(h.sock.state).toBe(TcpState.CloseWait);
    expect(h.read()).toBe('abcd');
  });
});

describe('resets and challenge ACKs (RFC 5961)', () => {
  it('ESTABLISHED: RST exactly at rcv.nxt resets the connection', () => {
    const h = new Harness().established();
    h.send({ seq: R + 1, flags: RST });
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.sock.error?.code).toBe('ECONNRESET');
  });

  it('ESTABLISHED: RST inside the window but not at rcv.nxt draws a challenge ACK', () => {
    const h = new Harness().established();
    h.send({ seq: R + 100, flags: RST });
    expect(h.sock.state).toBe(TcpState.Established);
    expect(h.recv()).toEqual([{ seq: L + 1, ack: R + 1, flags: ACK, window: W, payload: '', options: [] }]);
    expect(h.sock.stats.challengeAcks).toBe(1);
  });

  it('ESTABLISHED: RST outside the window is dropped silently', () => {
    const h = new Harness().established();
    h.send({ seq: R + 1 + 200_000, flags: RST });
    expect(h.sock.state).toBe(TcpState.Established);
    expect(h.recv()).toEqual([]);
  });

  it('ESTABLISHED: a SYN draws a challenge ACK and changes nothing', () => {
    const h = new Harness().established();
    h.send({ seq: R + 1, flags: SYN });
    expect(h.sock.state).toBe(TcpState.Established);
    expect(h.recv()).toEqual([{ seq: L + 1, ack: R + 1, flags: ACK, window: W, payload: '', options: [] }]);
  });

  it('abort sends RST and closes', () => {
    const h = new Harness().established();
    h.sock.abort();
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 1, flags: RST | ACK, window: 0, payload: '', options: [] },
    ]);
    expect(h.sock.isDone).toBe(true);
  });
});

describe('retransmission (RFC 6298)', () => {
  it('unacknowledged data is retransmitted at the RTO, which doubles, until the connection times out', () => {
    const h = new Harness({ dataRetries: 3 }).established();
    h.write('data');
    h.recv();
    const first = h.sock.pollAt;
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      h.at(h.sock.pollAt);
      times.push(h.now);
      expect(h.recv()).toEqual([
        { seq: L + 1, ack: R + 1, flags: ACK | PSH, window: W, payload: 'data', options: [] },
      ]);
    }
    // The handshake's RTT sample of 0 ms puts the RTO at its 200 ms minimum; each expiry doubles it.
    expect(first).toBe(200);
    expect(times).toEqual([200, 600, 1400]);
    h.at(h.sock.pollAt);
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.sock.error?.code).toBe('ETIMEDOUT');
    expect(h.recv().map((s) => s.flags)).toEqual([RST | ACK]);
  });

  it('three duplicate ACKs trigger a fast retransmit of the first segment (RFC 5681 3.2)', () => {
    const h = new Harness().established({ options: [{ type: 'mss', mss: 100 }] });
    h.write('x'.repeat(500));
    expect(h.recv().length).toBe(5);
    for (let i = 0; i < 2; i++) h.send({ seq: R + 1, ack: L + 1, flags: 0 });
    expect(h.recv()).toEqual([]);
    h.send({ seq: R + 1, ack: L + 1, flags: 0 });
    const out = h.recv();
    expect(out[0]).toMatchObject({ seq: L + 1, payload: 'x'.repeat(100) });
    expect(h.sock.stats.fastRecoveries).toBe(1);
    // A partial ACK retransmits the next hole (RFC 6582).
    h.send({ seq: R + 1, ack: L + 101, flags: 0 });
    expect(h.recv()[0]).toMatchObject({ seq: L + 101 });
  });

  it('SACK recovery retransmits exactly the holes, several at once (RFC 6675)', () => {
    const h = new Harness({ sack: true, congestionControl: 'newreno' }).established({
      options: [{ type: 'mss', mss: 100 }, { type: 'sack_permitted' }],
    });
    h.write('y'.repeat(1000));
    expect(h.recv().length).toBe(10);
    // Lost: segments 1, 4 and 7 (offsets 0, 300, 600). The receiver SACKs the rest as it arrives.
    h.send({ seq: R + 1, ack: L + 1, flags: 0, options: sackOptions([[100, 300]]) });
    h.send({
      seq: R + 1,
      ack: L + 1,
      flags: 0,
      options: sackOptions([
        [400, 600],
        [100, 300],
      ]),
    });
    h.send({
      seq: R + 1,
      ack: L + 1,
      flags: 0,
      options: sackOptions([
        [700, 1000],
        [400, 600],
        [100, 300],
      ]),
    });
    const rtx = h.recv().map((s) => [s.seq - L - 1, s.payload.length]);
    expect(rtx).toEqual([
      [0, 100],
      [300, 100],
      [600, 100],
    ]);
    expect(h.sock.stats.retransSegs).toBe(3);
    h.send({ seq: R + 1, ack: L + 1001, flags: 0 });
    expect(h.sock.sendQueued).toBe(0);
    expect(h.sock.pollAt).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('flow control', () => {
  it('a zero window stops data; persist probes (backing off) until the window opens (RFC 9293 3.8.6.1)', () => {
    const h = new Harness().established({ window: 0 });
    h.write('waiting');
    expect(h.recv()).toEqual([]);
    const t1 = h.sock.pollAt;
    expect(t1).toBeLessThan(Number.POSITIVE_INFINITY);
    h.at(t1);
    expect(h.recv()).toEqual([{ seq: L, ack: R + 1, flags: ACK, window: W, payload: '', options: [] }]);
    const t2 = h.sock.pollAt;
    expect(t2 - t1).toBe(2 * t1); // backed off
    h.send({ seq: R + 1, ack: L + 1, flags: 0, window: 0 });
    expect(h.sock.state).toBe(TcpState.Established);
    h.send({ seq: R + 1, ack: L + 1, flags: 0, window: 1000 });
    expect(h.recv().map((s) => s.payload)).toEqual(['waiting']);
  });

  it('the advertised window follows the free receive buffer and reopens when the app reads', () => {
    const h = new Harness({ recvBuffer: 4000 }).established();
    h.send({ seq: R + 1, ack: L + 1, flags: 0, payload: 'z'.repeat(1460) });
    h.send({ seq: R + 1461, ack: L + 1, flags: 0, payload: 'z'.repeat(1460) });
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 2921, flags: ACK, window: 4000 - 2920, payload: '', options: [] },
    ]);
    h.send({ seq: R + 2921, ack: L + 1, flags: 0, payload: 'z'.repeat(1460) });
    // Only 1080 bytes fit: the rest is trimmed and the sender must repeat it.
    expect(h.sock.readableBytes).toBe(4000);
    h.read();
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 4001, flags: ACK, window: 4000, payload: '', options: [] },
    ]);
  });

  it('window scaling is applied both ways once both sides offered it (RFC 7323 2)', () => {
    const h = new Harness({ windowScale: true, recvBuffer: 1 << 20 }).established({
      options: [...MSS, { type: 'window_scale', shift: 2 }],
      window: 1000,
    });
    // Our shift: the smallest that lets 1 MiB be advertised: 1 MiB / 65535 -> 5 (2^5*65535 >= 2^20).
    h.write('q');
    const [s] = h.recv();
    expect(s.window).toBe((1 << 20) >> 5);
    // The SYN/ACK's own window is not scaled (RFC 7323 2.2)...
    expect(h.sock.sndWnd).toBe(1000);
    // ...their later windows are, by their shift.
    h.send({ seq: R + 1, ack: L + 2, flags: 0, window: 1000 });
    expect(h.sock.sndWnd).toBe(4000);
  });
});

describe('timestamps and PAWS (RFC 7323)', () => {
  const TS = (tsval: number, tsecr: number) => [
    { type: 'nop' as const },
    { type: 'nop' as const },
    { type: 'timestamp' as const, tsval, tsecr },
  ];

  it('a segment with an older timestamp is dropped and acknowledged (PAWS, 5.3)', () => {
    const h = new Harness({ timestamps: true }).established({
      options: [...MSS, { type: 'nop' }, { type: 'nop' }, { type: 'timestamp', tsval: 1000, tsecr: 0 }],
    });
    h.send({ seq: R + 1, ack: L + 1, flags: 0, payload: 'new', options: TS(1005, 0) });
    expect(h.sock.readableBytes).toBe(3);
    h.send({ seq: R + 4, ack: L + 1, flags: 0, payload: 'old', options: TS(900, 0) });
    expect(h.sock.readableBytes).toBe(3);
    expect(h.sock.stats.pawsDrops).toBe(1);
    const out = h.recv();
    expect(out.length).toBe(1);
    expect(out[0].ack).toBe(R + 4);
    expect(out[0].options[2]).toMatchObject({ type: 'timestamp', tsecr: 1005 });
  });

  it('a RST is not subject to PAWS', () => {
    const h = new Harness({ timestamps: true }).established({
      options: [...MSS, { type: 'nop' }, { type: 'nop' }, { type: 'timestamp', tsval: 1000, tsecr: 0 }],
    });
    h.send({ seq: R + 1, flags: RST, options: TS(1, 0) });
    expect(h.sock.state).toBe(TcpState.Closed);
  });
});

describe('keepalive (RFC 9293 3.8.4)', () => {
  it('probes an idle connection and gives up after the configured count', () => {
    const h = new Harness({
      keepaliveIdleMs: 10_000,
      keepaliveIntervalMs: 1000,
      keepaliveProbes: 2,
    }).established();
    h.at(10_000);
    expect(h.recv()).toEqual([{ seq: L, ack: R + 1, flags: ACK, window: W, payload: '', options: [] }]);
    h.at(11_000);
    expect(h.recv().length).toBe(1);
    h.at(12_000);
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.sock.error?.code).toBe('ETIMEDOUT');
  });

  it('an answer to a probe resets the keepalive', () => {
    const h = new Harness({
      keepaliveIdleMs: 10_000,
      keepaliveIntervalMs: 1000,
      keepaliveProbes: 2,
    }).established();
    h.at(10_000);
    h.recv();
    h.send({ seq: R + 1, ack: L + 1, flags: 0 });
    expect(h.sock.pollAt).toBe(20_000);
  });
});

describe('states that must not hang (Linux tcp_fin_timeout, tcp_retries2)', () => {
  it('FIN-WAIT-2: after close() it waits for the FIN for ever; orphan() ends it silently after finTimeoutMs', () => {
    const h = new Harness({ finTimeoutMs: 5000 }).established();
    h.sock.close();
    h.recv();
    h.send({ seq: R + 1, ack: L + 2, flags: 0 });
    expect(h.sock.state).toBe(TcpState.FinWait2);
    // The application may still read (RFC 9293 3.6): no deadline.
    expect(h.sock.pollAt).toBe(Number.POSITIVE_INFINITY);
    h.at(1000);
    h.sock.orphan(h.now);
    expect(h.sock.pollAt).toBe(6000);
    h.at(5999);
    expect(h.sock.state).toBe(TcpState.FinWait2);
    h.at(6000);
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.sock.error).toBeUndefined();
    expect(h.recv()).toEqual([]); // no RST: Linux's FIN_WAIT2 time-wait socket expires silently
    expect(h.sock.isDone).toBe(true);
  });

  it('FIN-WAIT-2: an orphan that closed in ESTABLISHED gets the timeout when its FIN is acknowledged', () => {
    const h = new Harness({ finTimeoutMs: 5000 }).established();
    h.sock.orphan(h.now);
    expect(h.sock.state).toBe(TcpState.FinWait1);
    h.recv();
    h.at(100);
    h.send({ seq: R + 1, ack: L + 2, flags: 0 });
    expect(h.sock.state).toBe(TcpState.FinWait2);
    expect(h.sock.pollAt).toBe(5100);
    // The peer's FIN in time: TIME-WAIT as usual (timeWaitMs 1000 in the harness).
    h.at(2000);
    h.send({ seq: R + 1, ack: L + 2, flags: FIN });
    expect(h.sock.state).toBe(TcpState.TimeWait);
    expect(h.sock.pollAt).toBe(3000);
  });

  it('a zero window whose probes go unanswered ends after dataRetries probes (RST, ETIMEDOUT)', () => {
    const h = new Harness({ dataRetries: 3 }).established({ window: 0 });
    h.write('waiting');
    expect(h.recv()).toEqual([]);
    for (let i = 0; i < 3; i++) {
      h.at(h.sock.pollAt);
      expect(h.recv().map((s) => s.flags)).toEqual([ACK]);
    }
    h.at(h.sock.pollAt);
    expect(h.sock.state).toBe(TcpState.Closed);
    expect(h.sock.error?.code).toBe('ETIMEDOUT');
    expect(h.recv().map((s) => s.flags)).toEqual([RST | ACK]);
  });

  it('a zero window answered but never opened: probes go on, but an orphan gives up after dataRetries', () => {
    for (const orphan of [false, true]) {
      const h = new Harness({ dataRetries: 3 }).established({ window: 0 });
      h.write('waiting');
      expect(h.recv()).toEqual([]);
      if (orphan) h.sock.orphan(h.now);
      for (let i = 0; i < 6 && h.sock.state !== TcpState.Closed; i++) {
        h.at(h.sock.pollAt);
        h.recv();
        h.send({ seq: R + 1, ack: L + 1, flags: 0, window: 0 });
      }
      expect(h.sock.state).toBe(orphan ? TcpState.Closed : TcpState.Established);
      if (orphan) expect(h.sock.error?.code).toBe('ETIMEDOUT');
    }
  });
});
