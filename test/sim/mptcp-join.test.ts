// MPTCP with two subflows over two simulated links (RFC 8684 3.2): the MP_JOIN handshake with its
// HMACs, data spread over both paths and reassembled in data-sequence order, and joins refused
// for a bad HMAC or an unknown token, after Linux's mptcp_join.sh; half-open joins that take no
// subflow slot and expire.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { type EndpointOptions, MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import type { Subflow } from '../../src/mptcp/subflow.js';
import { BulkApp, mptcpConn } from '../../src/sim/bulk.js';
import { fixTransportChecksum, type Middlebox, Network } from '../../src/sim/index.js';
import { TcpState } from '../../src/tcp/state.js';
import { TCPRST_REASON } from '../../src/wire/mptcp/mp-tcprst.js';

const A1 = Uint8Array.of(198, 18, 1, 2);
const A2 = Uint8Array.of(198, 18, 2, 2);
const A3 = Uint8Array.of(198, 18, 3, 2);
const B = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;

/** Client `a` with addresses on two links to server `b` (DSL-like and LTE-like). */
function twoPaths(
  seed: number,
  mbox?: { link: 1 | 2; dir: 'ab' | 'ba'; fn: Middlebox },
  hag: EndpointOptions = {},
) {
  const net = new Network({ seed });
  const a = new MptcpEndpoint();
  const b = new MptcpEndpoint(hag);
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

/** Calls `fn` with the offset and length of each MP_JOIN option in the TCP options at [off, off+len). */
function forEachMpJoin(pkt: Uint8Array, off: number, len: number, fn: (o: number, len: number) => void) {
  for (let o = off; o < off + len; ) {
    const kind = pkt[o];
    if (kind === 0) break;
    if (kind === 1) {
      o++;
      continue;
    }
    const n = pkt[o + 1];
    if (kind === 30 && pkt[o + 2] >> 4 === 1) fn(o, n);
    o += n;
  }
}

/** One connection from A1, then a join from A2, run until that join's socket has closed. */
function joinOnce({ net, a, b }: ReturnType<typeof twoPaths>) {
  let server: MptcpConnection | undefined;
  b.listen(5001, (c) => (server = c));
  const client = a.connect(net.now, { local: A1, remote: B, remotePort: 5001 });
  net.runUntil(() => client.fullyEstablished && !!server, 5000);
  const sub = a.join(net.now, client, A2, 1);
  net.runUntil(() => sub.state === TcpState.Closed, 5000);
  return { b, server: server!, sub };
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
      forEachMpJoin(pkt, v.tcp.optionsOff, v.tcp.optionsLen, (o) => {
        pkt[o + 4] ^= 0x01;
      });
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

  it('a join whose third ACK lacks the MP_JOIN is reset, never a subflow (3.2)', () => {
    // Overwrite the 24-byte MP_JOIN of the client's third ACK with NOPs on the LTE path.
    const stripJoinAck: Middlebox = (pkt, ctx) => {
      const v = ctx.view();
      if (!v?.isTcp || v.tcp.flags & 0x02) return 'deliver';
      forEachMpJoin(pkt, v.tcp.optionsOff, v.tcp.optionsLen, (o, len) => pkt.fill(1, o, o + len));
      fixTransportChecksum(v);
      return 'deliver';
    };
    const { b, server, sub } = joinOnce(twoPaths(27, { link: 2, dir: 'ab', fn: stripJoinAck }));
    expect(sub.state).toBe(TcpState.Closed);
    expect(b.mib.MPJoinAckHMacFailure).toBe(1);
    expect((sub.ext as Subflow).peerRstReason).toBe(TCPRST_REASON.mptcpError);
    expect(server.subflows.length).toBe(1);
  });

  it("a join the application's admitJoin refuses gets a RST 'administratively prohibited'", () => {
    const asked: string[] = [];
    const { b, server, sub } = joinOnce(
      twoPaths(28, undefined, {
        admitJoin: (t, conn) => {
          asked.push(`${t.remote.join('.')} ${conn.role}`);
          return t.remote[2] !== 2; // no joins from 198.18.2.0/24
        },
      }),
    );
    expect(asked).toEqual(['198.18.2.2 server']);
    expect(sub.state).toBe(TcpState.Closed);
    expect(b.mib.MPJoinRejected).toBe(1);
    expect((sub.ext as Subflow).peerRstReason).toBe(TCPRST_REASON.administrativelyProhibited);
    expect(server.subflows.length).toBe(1);
    expect(server.joining.length).toBe(0);
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

/**
 * twoPaths plus a third link on which nothing comes back to the client: joins sent over it stay
 * half-open at the server, as join SYNs naming a real token from an attacker would.
 */
function withHalfOpenPath(seed: number, hag: EndpointOptions = {}) {
  const net = new Network({ seed });
  const a = new MptcpEndpoint({ maxSubflows: 16 });
  const b = new MptcpEndpoint(hag);
  net.addNode('a', a);
  net.addNode('b', b);
  const l1 = net.connect('a', 'b', { name: 'dsl', rate: 20e6, delay: 10 });
  const l2 = net.connect('a', 'b', { name: 'lte', rate: 40e6, delay: 30 });
  const l3 = net.connect('a', 'b', { name: 'void', rate: 10e6, delay: 5 });
  l3.ba.addMiddlebox(() => 'drop');
  for (const [n, l] of [
    [1, l1],
    [2, l2],
    [3, l3],
  ] as const) {
    net.route('a', { src: `198.18.${n}.0/24`, via: l });
    net.route('b', { dst: `198.18.${n}.0/24`, via: l });
  }
  let server: MptcpConnection | undefined;
  b.listen(5001, (c) => (server = c));
  const client = a.connect(net.now, { local: A1, remote: B, remotePort: 5001 });
  net.runUntil(() => client.fullyEstablished && !!server, 5000);
  const halfOpen = (n: number) => {
    for (let i = 0; i < n; i++) a.join(net.now, client, A3, 3);
    net.runFor(50); // the SYNs are in, their SYN/ACKs lost
  };
  return { net, a, b, client, server: server!, halfOpen };
}

describe('MPTCP MP_JOIN, half-open joins (RFC 8684 3.2)', () => {
  it('7 half-open joins naming the token leave room: the real join still succeeds', () => {
    const { net, b, a, client, server, halfOpen } = withHalfOpenPath(24);
    halfOpen(7);
    expect(b.mib.MPJoinSynRx).toBe(7);
    const real = a.join(net.now, client, A2, 2);
    net.runUntil(() => real.state === TcpState.Closed || server.subflows.length > 1, 5000);
    net.runFor(200);
    expect(real.state).toBe(TcpState.Established);
    expect(b.mib.MPJoinRejected).toBe(0);
    expect(b.mib.MPJoinAckRx).toBe(1);
    expect(server.subflows.length).toBe(2);
    expect(server.subflows[1].socket.tuple.remote).toEqual(A2);
    expect(client.subflows.find((f) => f.socket === real)?.canSend).toBe(true);
    // The half-open ones wait apart, not as subflows.
    expect(server.joining.length).toBe(7);
  });

  it('half-open joins are bounded per connection, the oldest dropped, and expire', () => {
    const { net, b, server, halfOpen } = withHalfOpenPath(25, { maxHalfOpenJoins: 4 });
    halfOpen(7);
    expect(b.mib.MPJoinHalfOpenDrop).toBe(3);
    expect(server.joining.length).toBe(4);
    // The SYN/ACK retransmissions run out (and the client's SYN retries): nothing is left.
    let most = 0;
    net.runUntil(() => {
      most = Math.max(most, server.joining.length);
      return server.joining.length === 0 && b.tcp.connectionCount === 1;
    }, 300_000);
    expect(most).toBeLessThanOrEqual(4);
    expect(server.joining.length).toBe(0);
    expect(b.tcp.connectionCount).toBe(1);
    expect(b.tcp.mib.AttemptFails).toBeGreaterThan(0);
    expect(server.subflows.length).toBe(1);
    expect(server.closed).toBe(false);
  });

  it('only established joins count against maxSubflows: of two proven joins with one slot, one is reset', () => {
    const { net, a, b, client, server, halfOpen } = withHalfOpenPath(26, { maxSubflows: 2 });
    halfOpen(1);
    const j1 = a.join(net.now, client, A2, 2);
    const j2 = a.join(net.now, client, A2, 2);
    net.runUntil(() => j1.state === TcpState.Closed || j2.state === TcpState.Closed, 5000);
    net.runFor(500);
    expect(server.subflows.length).toBe(2);
    expect(b.mib.MPJoinAckRx).toBe(2);
    // The second third ACK found the connection full: RST with "administratively prohibited".
    expect(b.mib.MPJoinRejected).toBe(1);
    const [kept, refused] = j1.state === TcpState.Closed ? [j2, j1] : [j1, j2];
    expect(kept.state).toBe(TcpState.Established);
    expect(refused.state).toBe(TcpState.Closed);
    expect((refused.ext as Subflow).peerRstReason).toBe(TCPRST_REASON.administrativelyProhibited);
  });
});
