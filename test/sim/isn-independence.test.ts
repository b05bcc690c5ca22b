// A transfer's outcome does not depend on where its sequence space starts: the same seeded 3 MB
// BBR transfer over a link with 2% random loss, from ISNs near 0, just below 2^31 (the signed
// boundary crossed mid-transfer) and just below 2^32 (the space wraps mid-transfer), sends the
// same segments and finishes at the same virtual time. Every comparison of sequence numbers in
// the core (sender, receiver, scoreboard, recovery, rate sampler) is modulo 2^32 (src/tcp/seq.ts).
// The ISNs are fixed while the stacks' other draws (BBR's seed) come from the run's seed.
import { describe, expect, it } from 'vitest';
import { BulkApp, tcpConn } from '../../src/sim/bulk.js';
import { Network } from '../../src/sim/index.js';
import { IsnGenerator } from '../../src/tcp/isn.js';
import { TcpStack } from '../../src/tcp/stack.js';

const A = Uint8Array.of(198, 18, 0, 1);
const B = Uint8Array.of(198, 19, 0, 1);
const BYTES = 3_000_000;

/** Every connection of the stack starts at `iss`. */
class FixedIsn extends IsnGenerator {
  constructor(private readonly iss: number) {
    super(new Uint8Array(16));
  }
  override next(): number {
    return this.iss >>> 0;
  }
}

function transfer(iss: number, o: { sack?: boolean; timestamps?: boolean } = {}) {
  const net = new Network({ seed: 3 });
  const tcp = { sendBuffer: 4 << 20, recvBuffer: 4 << 20, congestionControl: 'bbr' as const, ...o };
  const a = new TcpStack({ tcp, random: net.random('a'), isn: new FixedIsn(iss + 7777) });
  const b = new TcpStack({ tcp, random: net.random('b'), isn: new FixedIsn(iss) });
  net.addNode('a', a);
  net.addNode('b', b);
  const l = net.connect('a', 'b', { name: 'link', rate: 40e6, delay: 30, loss: 0.02, reorder: 0.005 });
  net.route('a', { dst: '198.19.0.0/16', via: l });
  net.route('b', { dst: '198.18.0.0/16', via: l });
  b.listen({ port: 5001, onAccept: (s) => new BulkApp(tcpConn(b, s), BYTES, 2, () => net.now) });
  const client = a.connect(net.now, { local: A, remote: B, remotePort: 5001 });
  const rx = new BulkApp(tcpConn(a, client), 0, 1, () => net.now);
  net.runUntil(() => rx.received >= BYTES, 120_000);
  return {
    received: rx.received,
    digest: rx.rxHash.copy().digest('hex'),
    lastRxAt: rx.lastRxAt,
    outSegs: b.mib.OutSegs,
    retransSegs: b.mib.RetransSegs,
    inSegs: a.mib.InSegs,
  };
}

const ISSES = [1000, 2 ** 31 - 1_500_000, 2 ** 32 - 1_500_000, 2 ** 32 - 4000];

describe('a seeded transfer from different ISNs', () => {
  for (const o of [{}, { sack: false }, { timestamps: false }]) {
    it(`has the same outcome from every ISN (${JSON.stringify(o)})`, () => {
      const base = transfer(ISSES[0], o);
      expect(base.received).toBe(BYTES);
      expect(base.retransSegs).toBeGreaterThan(20);
      for (const iss of ISSES.slice(1)) expect(transfer(iss, o), `ISS ${iss}`).toEqual(base);
    });
  }
});
