// The socket feeds its delivery-rate sampler (src/tcp/rate-sample.ts, draft-ietf-ccwg-bbr 4.1)
// what each SACK block newly covers, per segment, against its scoreboard.
import { describe, expect, it } from 'vitest';
import { Harness, LOCAL_ISS as L, REMOTE_ISS as R, sackOptions } from './harness.js';

describe("the sender's rate samples under SACK", () => {
  it('a SACK block that merges two (a retransmission filled the hole between them) delivers that retransmission now', () => {
    // The socket hands the sampler what the block newly SACKs: with the block's edges alone, the
    // retransmission in its middle counted only at the cumulative ACK, which then credited its bytes
    // to a later, shorter interval (rates above the bottleneck's after each recovery).
    const h = new Harness({ sack: true, congestionControl: 'bbr' }).established({
      options: [{ type: 'mss', mss: 100 }, { type: 'sack_permitted' }],
    });
    const delivered: number[] = [];
    const cc = h.sock.cc;
    const take = cc.onRateSample!.bind(cc);
    (cc as { onRateSample: typeof take }).onRateSample = (now, rs, before, after, rtt) => {
      delivered.push(rs.delivered);
      take(now, rs, before, after, rtt);
    };
    h.write('y'.repeat(1000));
    expect(h.recv().length).toBe(10);
    // Segments at offsets 300 and 600 lost; the receiver SACKs the others as they arrive.
    h.now = 50;
    h.send({ seq: R + 1, ack: L + 301, flags: 0 });
    h.send({ seq: R + 1, ack: L + 301, flags: 0, options: sackOptions([[400, 600]]) });
    h.send({
      seq: R + 1,
      ack: L + 301,
      flags: 0,
      options: sackOptions([
        [700, 1000],
        [400, 600],
      ]),
    });
    expect(delivered.at(-1)).toBe(300 + 200 + 300);
    const rtx = h.recv().map((x) => x.seq - L - 1);
    expect(rtx).toEqual([300, 600]);
    // The retransmission of 300 is lost again, that of 600 arrives: one block [400, 1000).
    h.now = 100;
    h.send({ seq: R + 1, ack: L + 301, flags: 0, options: sackOptions([[400, 1000]]) });
    expect(delivered.at(-1)).toBe(900);
  });
});
