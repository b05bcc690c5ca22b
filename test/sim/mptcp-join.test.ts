// MPTCP with two subflows over two simulated links (RFC 8684 3.2): the MP_JOIN handshake with its
// HMACs, data spread over both paths and reassembled in data-sequence order, and joins refused
// for a bad HMAC or an unknown token, after Linux's mptcp_join.sh.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { BulkApp } from '../../src/sim/bulk.js';
import { fixTransportChecksum, type Middlebox, Network } from '../../src/sim/index.js';
import { TcpState } from '../../src/tcp/state.js';

const A1 = Uint8Array.of(198, 18, 1, 2);
const A2 = Uint8Array.of(198, 18, 2, 2);
const B = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;

function mptcpConn(ep: MptcpEndpoint, c: MptcpConnection) {
  return { conn: c, wake: () => ep.wake(c), canClose: () => c.established };
}

/** Client `a` with addresses on two links to server `b` (DSL-like and LTE-like). */
function twoPaths(seed: number, mbox?: { link: 1 | 2; dir: 'ab' | 'ba'; fn: Middlebox }) {
  const net = new Network({ seed });
  const a = new MptcpEndpoint();
  const b = new MptcpEndpoint();
  net.addNode('a', a);
  net.addNode('b', b);
  const l1 = net.connect('a', 'b', { name: 'dsl', rate: 20e6, delay: 10 });
  const l2 = net.connect('a', 'b', { name: 'lte', rate: 40e6, delay: 30 });
  net.route('a', { src: '198.18.1.0/24', via: l1 });
  net.route('a', { src: '198.18.2.0/24', via: l2 });
  net.route('b', { dst: '198.18.1.0/24', via: l1 });
  net.route('b', { dst: '198.18.2.0/24', via: l2 });
  if (mbox) (mbox.link === 1 ? l1 : l2)[mbox.dir].addMiddlebox(mbox.fn);
  return { net, a, b };
}

function sha(app: BulkApp, dir: 'tx' | 'rx'): string {
  return (dir === 'tx' ? app.txHash : app.rxHash).copy().digest('hex');
}

describe('MPTCP MP_JOIN, two subflows', () => {
  it('joins a second subflow and carries 10 MB each way over both paths', () => {
    const { net, a, b } = twoPaths(21);
    let server: MptcpConnection | undefined;
    let down: BulkApp | undefined;
    b.listen(5001, (c) => {
      server = c;
      down = new BulkApp(mptcpConn(b, c), 10 * MB, 2, () => net.now);
    });
    const client = a.connect(net.now, { local: A1, remote: B, remotePort: 5001 });
    net.runUntil(() => client.fullyEstablished, 5000);
    const sub = a.join(net.now, client, A2, 1);
    const up = new BulkApp(mptcpConn(a, client), 10 * MB, 1, () => net.now);
    net.runUntil(() => !!down && up.ended && down.ended, 120_000);
    expect(up.received).toBe(10 * MB);
    expect(down?.received).toBe(10 * MB);
    expect(sha(down!, 'rx')).toBe(sha(up, 'tx'));
    expect(sha(up, 'rx')).toBe(sha(down!, 'tx'));
    expect(sub.state === TcpState.Established || sub.state === TcpState.FinWait1).toBe(true);
    expect(a.mib.MPJoinSynTx).toBe(1);
    expect(a.mib.MPJoinSynAckRx).toBe(1);
    expect(b.mib.MPJoinSynRx).toBe(1);
    expect(b.mib.MPJoinAckRx).toBe(1);
    expect(server?.subflows.length).toBe(2);
    // Both paths carried data in both directions.
    for (const sf of client.subflows) expect(sf.socket.stats.bytesOut).toBeGreaterThan(MB);
    for (const sf of server!.subflows) expect(sf.socket.stats.bytesOut).toBeGreaterThan(MB);
  });

  it('a join whose SYN/ACK HMAC is wrong is reset; the connection goes on (3.2)', () => {
    // Flip a bit of the 64-bit HMAC in the MP_JOIN SYN/ACK on the LTE path.
    const corruptJoinHmac: Middlebox = (pkt, ctx) => {
      const v = ctx.view();
      if (!v?.isTcp || (v.tcp.flags & 0x12) !== 0x12) return 'deliver';
      for (let o = v.tcp.optionsOff; o < v.tcp.optionsOff + v.tcp.optionsLen; ) {
        const kind = pkt[o];
        if (kind === 0) break;
        if (kind === 1) {
          o++;
          continue;
        }
        if (kind === 30 && pkt[o + 2] >> 4 === 1) pkt[o + 4] ^= 0x01;
        o += pkt[o + 1];
      }
      fixTransportChecksum(v); // only the HMAC is wrong, as a forger would make it
      return 'deliver';
    };
    const { net, a, b } = twoPaths(22, { link: 2, dir: 'ba', fn: corruptJoinHmac });
    let down: BulkApp | undefined;
    b.listen(5001, (c) => (down = new BulkApp(mptcpConn(b, c), MB, 2, () => net.now)));
    const client = a.connect(net.now, { local: A1, remote: B, remotePort: 5001 });
    net.runUntil(() => client.fullyEstablished, 5000);
    a.join(net.now, client, A2, 1);
    const up = new BulkApp(mptcpConn(a, client), MB, 1, () => net.now);
    net.runUntil(() => !!down && up.ended && down.ended, 60_000);
    expect(a.mib.MPJoinSynAckHMacFailure).toBe(1);
    // The client's RST says why (RFC 8684 3.6), and the server heard it.
    expect(a.mib.MPRstTx).toBe(1);
    expect(b.mib.MPRstRx).toBe(1);
    expect(client.subflows.length).toBe(1);
    expect(sha(down!, 'rx')).toBe(sha(up, 'tx'));
  });

  it('a join naming an unknown token is refused with a RST', () => {
    const { net, a, b } = twoPaths(23);
    b.listen(5001, () => {});
    const client = a.connect(net.now, { local: A1, remote: B, remotePort: 5001 });
    net.runUntil(() => client.fullyEstablished, 5000);
    // Make the server forget the token: the join names a connection it does not know.
    const server = [...(b.tokens as unknown as { byToken: Map<number, MptcpConnection> }).byToken.keys()][0];
    b.tokens.release(server);
    const sub = a.join(net.now, client, A2, 1);
    net.runUntil(() => sub.state === TcpState.Closed, 5000);
    expect(sub.state).toBe(TcpState.Closed);
    expect(b.mib.MPJoinNoTokenFound).toBe(1);
    expect(b.mib.MPRstTx).toBe(1);
    expect(a.mib.MPRstRx).toBe(1);
    expect(client.subflows.length).toBe(1);
  });
});
