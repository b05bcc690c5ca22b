// MPTCP through SYN cookies (RFC 4987 with RFC 8684), with the server answering every SYN from a
// cookie ('always'), in virtual time: the connection is rebuilt from the third ACK's two keys,
// a join from its bounded request, a plain TCP client falls back; a key whose token was taken
// meanwhile is refused; TCP Fast Open data is not taken from a cookie SYN but arrives after.
import { describe, expect, it } from 'vitest';
import { keyToken } from '../../src/crypto/keys.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { JoinRequestTable } from '../../src/mptcp/join-cookies.js';
import type { JoinState } from '../../src/mptcp/subflow.js';
import { BulkApp, mptcpConn, tcpConn } from '../../src/sim/bulk.js';
import { type Middlebox, Network } from '../../src/sim/index.js';
import { TfoCookieCache, TfoCookies } from '../../src/tcp/fastopen.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { TcpState } from '../../src/tcp/state.js';
import { COOKIE_TICK_MS } from '../../src/tcp/syncookie.js';

const A1 = Uint8Array.of(198, 18, 1, 2);
const A2 = Uint8Array.of(198, 18, 2, 2);
const B = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;

/** The sender key of the MP_CAPABLE in a SYN/ACK, if the packet is one. */
function synAckKey(pkt: Uint8Array, optOff: number, optLen: number): Uint8Array | undefined {
  for (let o = optOff; o < optOff + optLen; ) {
    const kind = pkt[o];
    if (kind === 0) break;
    if (kind === 1) {
      o++;
      continue;
    }
    if (kind === 30 && pkt[o + 2] >> 4 === 0 && pkt[o + 1] === 12) return pkt.slice(o + 4, o + 12);
    o += pkt[o + 1];
  }
  return undefined;
}

function setup(seed: number, client: ConstructorParameters<typeof MptcpEndpoint>[0] = {}) {
  const net = new Network({ seed });
  const a = new MptcpEndpoint(client);
  const cookies = new TfoCookies(Buffer.alloc(16, 3));
  const b = new MptcpEndpoint({ stack: { synCookies: 'always' }, fastOpen: { server: { cookies } } });
  const keys: Uint8Array[] = [];
  const watch: Middlebox = (pkt, ctx) => {
    const v = ctx.view();
    if (v?.isTcp && (v.tcp.flags & 0x12) === 0x12) {
      const k = synAckKey(pkt, v.tcp.optionsOff, v.tcp.optionsLen);
      if (k) keys.push(k);
    }
    return 'deliver';
  };
  net.addNode('a', a);
  net.addNode('b', b);
  const l1 = net.connect('a', 'b', { name: 'dsl', rate: 20e6, delay: 10, reverse: { middleboxes: [watch] } });
  const l2 = net.connect('a', 'b', { name: 'lte', rate: 40e6, delay: 30 });
  net.route('a', { src: '198.18.1.0/24', via: l1 });
  net.route('a', { src: '198.18.2.0/24', via: l2 });
  net.route('b', { dst: '198.18.1.0/24', via: l1 });
  net.route('b', { dst: '198.18.2.0/24', via: l2 });
  return { net, a, b, keys, cookies };
}

describe('MPTCP through SYN cookies', () => {
  it('MP_CAPABLE is rebuilt from the third ACK (our key echoed), a join from its request; 4 MB each way', () => {
    const { net, a, b, keys } = setup(31);
    let server: MptcpConnection | undefined;
    let down: BulkApp | undefined;
    b.listen(5001, (c) => {
      server = c;
      down = new BulkApp(mptcpConn(b, c), 4 * MB, 2, () => net.now);
    });
    const client = a.connect(net.now, { local: A1, remote: B, remotePort: 5001 });
    net.runUntil(() => client.fullyEstablished, 5000);
    expect(net.now).toBeLessThan(100); // one round trip: no SYN went twice
    const sub = a.join(net.now, client, A2, 1);
    const up = new BulkApp(mptcpConn(a, client), 4 * MB, 1, () => net.now);
    net.runUntil(() => !!down && up.ended && down.ended, 60_000);
    expect(down?.received).toBe(4 * MB);
    expect(up.received).toBe(4 * MB);
    expect(down!.rxHash.copy().digest('hex')).toBe(up.txHash.copy().digest('hex'));
    expect(up.rxHash.copy().digest('hex')).toBe(down!.txHash.copy().digest('hex'));
    // The server's connection has the key of the cookie SYN/ACK, and its token is registered.
    expect(keys).toHaveLength(1);
    expect(Buffer.from(server!.local.key).equals(Buffer.from(keys[0]))).toBe(true);
    expect(b.tokens.lookup(keyToken(keys[0]))).toBe(server);
    expect(server?.subflows).toHaveLength(2);
    expect(sub.stats.bytesOut).toBeGreaterThan(0);
    expect(b.tcp.mib.SyncookiesSent).toBe(2);
    expect(b.tcp.mib.SyncookiesRecv).toBe(2);
    expect(b.mib.MPCapableACKRX).toBe(1);
    expect(b.mib.MPJoinSynRx).toBe(1);
    expect(b.mib.MPJoinAckRx).toBe(1);
    expect(b.joinRequests.size).toBe(0);
  });

  it('a key whose token was taken between the SYN/ACK and the third ACK is refused with a RST', () => {
    const { net, a, b, keys } = setup(32);
    let accepted = 0;
    b.listen(5001, () => accepted++);
    const client = a.connect(net.now, { local: A1, remote: B, remotePort: 5001 });
    const sock = client.subflows[0].socket;
    net.runUntil(() => keys.length > 0, 1000);
    // Another connection takes the token of the key the SYN/ACK carries, before the ACK arrives.
    expect(b.tokens.register(keyToken(keys[0]), undefined)).toBe(true);
    net.runUntil(() => sock.state === TcpState.Closed, 5000);
    expect(sock.error?.code).toBe('ECONNRESET');
    expect(client.closed).toBe(true);
    expect(accepted).toBe(0);
    expect(b.tcp.mib.SyncookiesRecv).toBe(1);
    expect(b.tokens.collisions).toBe(1);
  });

  it('a plain TCP client is answered from a cookie and falls back (RFC 8684 3.7)', () => {
    const { net, b } = setup(33);
    const plain = new TcpStack();
    net.addNode('c', plain);
    const lc = net.connect('c', 'b', { name: 'lan', rate: 50e6, delay: 5 });
    net.route('b', { dst: '198.18.3.0/24', via: lc });
    let server: MptcpConnection | undefined;
    let down: BulkApp | undefined;
    b.listen(5001, (c) => {
      server = c;
      down = new BulkApp(mptcpConn(b, c), MB, 2, () => net.now);
    });
    const sock = plain.connect(net.now, { local: Uint8Array.of(198, 18, 3, 2), remote: B, remotePort: 5001 });
    const up = new BulkApp(tcpConn(plain, sock), MB, 1, () => net.now);
    net.runUntil(() => !!down && up.ended && down.ended, 60_000);
    expect(server?.fallback).toBe(true);
    expect(down?.received).toBe(MB);
    expect(up.received).toBe(MB);
    expect(down!.rxHash.copy().digest('hex')).toBe(up.txHash.copy().digest('hex'));
    expect(b.tcp.mib.SyncookiesRecv).toBe(1);
  });

  it('TCP Fast Open: the SYN data is not taken from a cookie SYN, goes again and arrives once', () => {
    const cache = new TfoCookieCache();
    const { net, a, b, cookies } = setup(34, { fastOpen: { cache } });
    cache.set(B, cookies.cookieFor(A1), 1460);
    let down: BulkApp | undefined;
    b.listen(5001, (c) => (down = new BulkApp(mptcpConn(b, c), MB, 2, () => net.now)));
    const client = a.connect(net.now, { local: A1, remote: B, remotePort: 5001 });
    const up = new BulkApp(mptcpConn(a, client), MB, 1, () => net.now);
    net.runUntil(() => !!down && up.ended && down.ended, 60_000);
    expect(client.subflows[0].socket.synDataLen).toBeGreaterThan(0); // the SYN carried data
    expect(client.subflows[0].socket.fastOpen).toBe('refused');
    expect(b.tcp.mib.TCPFastOpenPassive).toBe(0);
    expect(down?.received).toBe(MB);
    expect(down!.rxHash.copy().digest('hex')).toBe(up.txHash.copy().digest('hex'));
    expect(up.received).toBe(MB);
  });
});

describe('JoinRequestTable', () => {
  const tuple = (port: number) => ({ local: B, localPort: 5001, remote: A2, remotePort: port });
  const join: JoinState = {
    localId: 0,
    remoteId: 1,
    backup: false,
    nonceLocal: 1,
    nonceRemote: 2,
    confirmed: false,
  };

  it('is bounded: when full, a new join is refused until an entry has outlived its cookie', () => {
    const t = new JoinRequestTable(2);
    expect(t.add(tuple(1), { token: 7, join, at: 0 })).toBe(true);
    expect(t.add(tuple(2), { token: 7, join, at: 10 })).toBe(true);
    expect(t.add(tuple(3), { token: 7, join, at: 20 })).toBe(false);
    // A retransmitted SYN of a stored join replaces its entry.
    expect(t.add(tuple(2), { token: 7, join, at: 30 })).toBe(true);
    expect(t.size).toBe(2);
    expect(t.add(tuple(3), { token: 7, join, at: 4 * COOKIE_TICK_MS })).toBe(true);
    expect(t.size).toBe(1);
  });

  it('the third ACK takes its entry once; a stale one is gone', () => {
    const t = new JoinRequestTable(4);
    t.add(tuple(1), { token: 9, join, at: 0 });
    expect(t.take(tuple(1), 100)?.token).toBe(9);
    expect(t.take(tuple(1), 100)).toBeUndefined();
    t.add(tuple(2), { token: 9, join, at: 0 });
    expect(t.take(tuple(2), 4 * COOKIE_TICK_MS)).toBeUndefined();
    expect(t.size).toBe(0);
  });
});
