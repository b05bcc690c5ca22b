// TCP Fast Open (RFC 7413): cookies, the client's SYN with data and what the SYN/ACK says of it,
// the server taking SYN data at once or ignoring it, and no byte lost or delivered twice when
// the SYN/ACK is lost or the cookie is refused. Per-segment tests, then two stacks.
import { describe, expect, it } from 'vitest';
import { TfoCookieCache, TfoCookies } from '../../../src/tcp/fastopen.js';
import type { TcpSocket } from '../../../src/tcp/socket.js';
import { TcpState } from '../../../src/tcp/state.js';
import { PacketView } from '../../../src/wire/index.js';
import { ACK, Harness, LOCAL_ISS as L, PSH, REMOTE_ISS as R, REMOTE, readSegment, SYN } from './harness.js';
import { A_ADDR, B_ADDR, Pair } from './pair.js';

const COOKIE = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const mss = (m = 1460) => ({ type: 'mss' as const, mss: m });
const fo = (cookie: Uint8Array) => ({ type: 'fast_open' as const, cookie });
const NOP = { type: 'nop' as const };

function cacheWith(cookie?: Uint8Array, m = 1460): TfoCookieCache {
  const c = new TfoCookieCache();
  if (cookie) c.set(REMOTE, cookie, m);
  return c;
}

describe('TFO cookies (RFC 7413 4.1.2)', () => {
  it('a cookie validates for its address only, and for one key rotation', () => {
    const k = new TfoCookies(Buffer.alloc(16, 7));
    const a = Uint8Array.of(198, 18, 0, 2);
    const b = Uint8Array.of(198, 18, 0, 3);
    const c = k.cookieFor(a);
    expect(c.length).toBe(8);
    expect(k.valid(a, c, 0, 8)).toBe(true);
    expect(k.valid(b, c, 0, 8)).toBe(false);
    expect(k.valid(a, c, 0, 4)).toBe(false);
    k.rotate();
    expect(k.valid(a, c, 0, 8)).toBe(true);
    k.rotate();
    expect(k.valid(a, c, 0, 8)).toBe(false);
  });

  it('the client cache keeps one cookie per server, bounded, and survives JSON', () => {
    const c = new TfoCookieCache(2);
    c.set(Uint8Array.of(1, 1, 1, 1), COOKIE, 1400);
    c.set(Uint8Array.of(2, 2, 2, 2), COOKIE, 1300);
    c.set(Uint8Array.of(3, 3, 3, 3), COOKIE, 1200);
    expect(c.size).toBe(2);
    expect(c.get(Uint8Array.of(1, 1, 1, 1))).toBeUndefined();
    const back = TfoCookieCache.fromJSON(JSON.parse(JSON.stringify(c)));
    expect(back.get(Uint8Array.of(3, 3, 3, 3))).toEqual({ cookie: COOKIE, mss: 1200 });
  });
});

describe('TFO client (RFC 7413 4.2.1, 4.2.2)', () => {
  it('SYN-SENT without a cookie: the SYN asks for one and carries no data; the SYN/ACK cookie is cached', () => {
    const h = new Harness();
    const cache = cacheWith();
    h.sock.connect(0, L, cache);
    h.write('hello');
    expect(h.recv()).toEqual([
      {
        seq: L,
        ack: 0,
        flags: SYN,
        window: 65535,
        payload: '',
        options: [mss(), fo(new Uint8Array()), NOP, NOP],
      },
    ]);
    expect(h.sock.fastOpen).toBe('requested');
    h.send({ seq: R, ack: L + 1, flags: SYN, options: [mss(1400), fo(COOKIE)] });
    expect(cache.get(REMOTE)).toEqual({ cookie: COOKIE, mss: 1400 });
    expect(h.sock.state).toBe(TcpState.Established);
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 1, flags: ACK | PSH, window: 65535, payload: 'hello', options: [] },
    ]);
  });

  it('SYN-SENT with a cookie: the SYN carries it and the data; a SYN/ACK acknowledging all of it ends the matter', () => {
    const h = new Harness();
    h.sock.connect(0, L, cacheWith(COOKIE));
    h.write('hello');
    const [syn] = h.recv();
    expect(syn).toEqual({
      seq: L,
      ack: 0,
      flags: SYN,
      window: 65535,
      payload: 'hello',
      options: [mss(), fo(COOKIE), NOP, NOP],
    });
    h.send({ seq: R, ack: L + 6, flags: SYN, options: [mss()] });
    expect(h.sock.state).toBe(TcpState.Established);
    expect(h.sock.fastOpen).toBe('accepted');
    expect(h.sock.synDataAcked).toBe(5);
    expect(h.sock.sendQueued).toBe(0);
    // Only the ACK of the SYN/ACK; the data is not sent again.
    expect(h.recv()).toEqual([
      { seq: L + 6, ack: R + 1, flags: ACK, window: 65535, payload: '', options: [] },
    ]);
    h.write('more');
    expect(h.recv()[0]).toMatchObject({ seq: L + 6, payload: 'more' });
  });

  it('SYN-SENT: a SYN/ACK acknowledging only the SYN: the data goes again after the handshake, once', () => {
    const h = new Harness();
    const cache = cacheWith(COOKIE);
    h.sock.connect(0, L, cache);
    h.write('hello');
    expect(h.recv()[0].payload).toBe('hello');
    const fresh = Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9);
    h.send({ seq: R, ack: L + 1, flags: SYN, options: [mss(), fo(fresh)] });
    expect(h.sock.fastOpen).toBe('refused');
    expect(cache.get(REMOTE)?.cookie).toEqual(fresh);
    expect(h.recv()).toEqual([
      { seq: L + 1, ack: R + 1, flags: ACK | PSH, window: 65535, payload: 'hello', options: [] },
    ]);
    h.send({ seq: R + 1, ack: L + 6, flags: 0 });
    expect(h.sock.sendQueued).toBe(0);
    expect(h.recv()).toEqual([]);
  });

  it('SYN-SENT: refused without a new cookie, the cached one is forgotten (ask again next time)', () => {
    const h = new Harness();
    const cache = cacheWith(COOKIE);
    h.sock.connect(0, L, cache);
    h.write('x');
    h.recv();
    h.send({ seq: R, ack: L + 1, flags: SYN, options: [mss()] });
    expect(cache.get(REMOTE)).toBeUndefined();
  });

  it('SYN-SENT: the SYN/ACK is lost: the retransmitted SYN has neither option nor data; the late SYN/ACK acknowledging the data is taken', () => {
    const h = new Harness();
    const cache = cacheWith(COOKIE);
    h.sock.connect(0, L, cache);
    h.write('hello');
    expect(h.recv()[0].payload).toBe('hello');
    h.at(1000);
    const [again] = h.recv();
    expect(again).toEqual({ seq: L, ack: 0, flags: SYN, window: 65535, payload: '', options: [mss()] });
    expect(cache.usable(REMOTE, 1000)).toBe(false);
    h.send({ seq: R, ack: L + 6, flags: SYN, options: [mss()] });
    expect(h.sock.state).toBe(TcpState.Established);
    expect(h.sock.fastOpen).toBe('accepted');
    // The data got through: Fast Open works toward this server after all.
    expect(cache.usable(REMOTE, 1000)).toBe(true);
    expect(h.recv()).toEqual([
      { seq: L + 6, ack: R + 1, flags: ACK, window: 65535, payload: '', options: [] },
    ]);
  });

  it('SYN-SENT: a SYN with data never answered: sent again plain, data after the handshake; no Fast Open toward that server for a while (RFC 7413 4.1.3.1)', () => {
    const h = new Harness();
    const cache = cacheWith(COOKIE);
    h.sock.connect(0, L, cache);
    h.write('hello');
    expect(h.recv()[0].payload).toBe('hello');
    h.at(1000);
    expect(h.recv()[0]).toEqual({ seq: L, ack: 0, flags: SYN, window: 65535, payload: '', options: [mss()] });
    // A middlebox dropped the first SYN; the plain one got through: only the SYN is acknowledged.
    h.send({ seq: R, ack: L + 1, flags: SYN, options: [mss()] });
    expect(h.sock.fastOpen).toBe('refused');
    expect(h.recv()[0]).toMatchObject({ seq: L + 1, payload: 'hello' });
    expect(cache.usable(REMOTE, 2000)).toBe(false);
    expect(cache.usable(REMOTE, 1000 + cache.holdMs)).toBe(true);
    const next = new Harness();
    next.now = 5000;
    next.sock.connect(5000, L, cache);
    next.write('x');
    expect(next.recv()[0]).toEqual({
      seq: L,
      ack: 0,
      flags: SYN,
      window: 65535,
      payload: '',
      options: [mss()],
    });
    expect(next.sock.fastOpen).toBe('off');
  });

  it('SYN-SENT: the SYN data is cut to the cached MSS less the 40 bytes options may take', () => {
    const h = new Harness();
    h.sock.connect(0, L, cacheWith(COOKIE, 100));
    h.write('a'.repeat(200));
    expect(h.recv()[0].payload.length).toBe(60);
    h.send({ seq: R, ack: L + 61, flags: SYN, options: [mss(100)] });
    const rest = h.recv();
    expect(rest[0]).toMatchObject({ seq: L + 61 });
    expect(rest.reduce((n, s) => n + s.payload.length, 0)).toBe(140);
  });
});

describe('TFO server (RFC 7413 4.2.2)', () => {
  const synWithData = (cookie: Uint8Array) =>
    readSegment({ seq: R, flags: SYN, options: [mss(), fo(cookie)], payload: 'GET /' });

  it('SYN with accepted data: readable at once, before the third ACK; the SYN/ACK acknowledges it', () => {
    const h = new Harness();
    let readable = 0;
    h.sock.events.onReadable = () => readable++;
    h.sock.acceptSyn(0, synWithData(COOKIE), L, { accept: true });
    expect(h.sock.state).toBe(TcpState.SynReceived);
    expect(readable).toBe(1);
    expect(h.sock.fastOpen).toBe('accepted');
    expect(h.read()).toBe('GET /');
    expect(h.recv()).toEqual([
      { seq: L, ack: R + 6, flags: SYN | ACK, window: 65535, payload: '', options: [mss()] },
    ]);
  });

  it('SYN with data not accepted: the data is ignored and the SYN/ACK carries a cookie', () => {
    const h = new Harness();
    const cookie = Uint8Array.of(4, 3, 2, 1, 4, 3, 2, 1);
    h.sock.acceptSyn(0, synWithData(new Uint8Array()), L, { accept: false, cookie });
    expect(h.sock.readableBytes).toBe(0);
    expect(h.sock.fastOpen).toBe('refused');
    expect(h.recv()).toEqual([
      {
        seq: L,
        ack: R + 1,
        flags: SYN | ACK,
        window: 65535,
        payload: '',
        options: [mss(), fo(cookie), NOP, NOP],
      },
    ]);
    // The client sends it again after the handshake: delivered once.
    h.send({ seq: R + 1, ack: L + 1, flags: PSH, payload: 'GET /' });
    expect(h.read()).toBe('GET /');
  });

  it('SYN-RECEIVED: the SYN with its data again (our SYN/ACK was lost) repeats the SYN/ACK and delivers nothing twice', () => {
    const h = new Harness();
    h.sock.acceptSyn(0, synWithData(COOKIE), L, { accept: true });
    expect(h.read()).toBe('GET /');
    h.recv();
    h.send({ seq: R, flags: SYN, options: [mss(), fo(COOKIE)], payload: 'GET /' });
    expect(h.sock.readableBytes).toBe(0);
    expect(h.recv()).toEqual([
      { seq: L, ack: R + 6, flags: SYN | ACK, window: 65535, payload: '', options: [mss()] },
    ]);
    h.send({ seq: R + 6, ack: L + 1, flags: 0 });
    expect(h.sock.state).toBe(TcpState.Established);
    expect(h.sock.readableBytes).toBe(0);
  });

  it('timestamps leave the SYN/ACK when they, an extension option and a cookie do not fit in 40 bytes', () => {
    const h = new Harness({ timestamps: true, sack: true, windowScale: true });
    h.sock.ext = {
      onSyn: () => {},
      receiveWindow: () => Number.POSITIVE_INFINITY,
      synOptionsLen: () => 12,
      writeSynOptions: (b: Uint8Array, o: number) => {
        b.fill(1, o, o + 12);
        return 12;
      },
    } as unknown as TcpSocket['ext'];
    const seg = readSegment({
      seq: R,
      flags: SYN,
      options: [
        mss(),
        { type: 'sack_permitted' },
        { type: 'timestamp', tsval: 5, tsecr: 0 },
        { type: 'window_scale', shift: 7 },
        fo(new Uint8Array()),
      ],
    });
    h.sock.acceptSyn(0, seg, L, { accept: false, cookie: COOKIE });
    const [synAck] = h.recv();
    expect(synAck.options.some((o) => o.type === 'timestamp')).toBe(false);
    expect(synAck.options).toContainEqual(fo(COOKIE));
  });
});

describe('TFO between two stacks', () => {
  function serve(p: Pair, acceptWithoutCookie?: (a: Uint8Array) => boolean) {
    const cookies = new TfoCookies(Buffer.alloc(16, 1));
    const got: { at: number; state: TcpState; data: string }[] = [];
    p.b.listen({
      port: 80,
      fastOpen: { cookies, acceptWithoutCookie },
      onAccept: (s) => {
        const b = new Uint8Array(s.readableBytes);
        s.recv(b);
        got.push({ at: p.now, state: s.state, data: Buffer.from(b).toString() });
        s.events.onReadable = () => {
          const more = new Uint8Array(s.readableBytes);
          s.recv(more);
          got[got.length - 1].data += Buffer.from(more).toString();
        };
      },
    });
    return { cookies, got };
  }

  function open(p: Pair, cache: TfoCookieCache, data: string) {
    const s = p.a.connect(p.now, { local: A_ADDR, remote: B_ADDR, remotePort: 80 }, undefined, {
      fastOpen: cache,
    });
    s.send(Buffer.from(data));
    return s;
  }

  it('the first connection gets a cookie, the second is 0-RTT: the server reads the data one one-way delay after the SYN', () => {
    const p = new Pair({ tcp: { congestionControl: 'newreno' } });
    p.delay = 10;
    const { got } = serve(p);
    const cache = new TfoCookieCache();
    const c1 = open(p, cache, 'first');
    p.run(() => got.length === 1 && got[0].data === 'first', 1000);
    // Without a cookie: the data comes with the third ACK, 1.5 RTT after the SYN left.
    expect(got[0]).toMatchObject({ at: 30, state: TcpState.Established });
    expect(c1.fastOpen).toBe('requested');
    expect(cache.get(B_ADDR)).toBeDefined();
    const t0 = p.now;
    const c2 = open(p, cache, 'second');
    p.run(() => got.length === 2 && c2.state === TcpState.Established, 1000);
    // The data arrived with the SYN: handed over in SYN-RECEIVED, 10 ms after it left.
    expect(got[1]).toEqual({ at: t0 + 10, state: TcpState.SynReceived, data: 'second' });
    expect(c2.fastOpen).toBe('accepted');
    expect(p.a.mib.TCPFastOpenActive).toBe(1);
    expect(p.b.mib.TCPFastOpenPassive).toBe(1);
    expect(p.b.mib.TCPFastOpenCookieReqd).toBe(1);
  });

  it('a cookie the server no longer knows: data ignored in the SYN, sent again, delivered once; the new cookie works', () => {
    const p = new Pair({ tcp: { congestionControl: 'newreno' } });
    const { got } = serve(p);
    const cache = new TfoCookieCache();
    cache.set(B_ADDR, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0), 1460);
    const c = open(p, cache, 'hello');
    p.run(() => got.length === 1 && got[0].data.length >= 5 && c.sendQueued === 0, 1000);
    p.run(() => false, 500);
    expect(got[0].data).toBe('hello');
    expect(c.fastOpen).toBe('refused');
    expect(p.b.mib.TCPFastOpenPassiveFail).toBe(1);
    const c2 = open(p, cache, 'again');
    p.run(() => got.length === 2 && c2.state === TcpState.Established, 1000);
    expect(c2.fastOpen).toBe('accepted');
    expect(got[1].data).toBe('again');
  });

  it('the SYN/ACK of a 0-RTT SYN is lost: the SYN goes again, the data reaches the server once', () => {
    const p = new Pair({ tcp: { congestionControl: 'newreno' } });
    const { cookies, got } = serve(p);
    const cache = new TfoCookieCache();
    cache.set(B_ADDR, cookies.cookieFor(A_ADDR), 1460);
    const view = new PacketView();
    let dropped = 0;
    p.filter = (from, pkt) => {
      if (from !== 'b' || view.wrap(pkt) !== undefined) return true;
      if (view.tcp.flags & SYN && dropped === 0) {
        dropped++;
        return false;
      }
      return true;
    };
    const c = open(p, cache, 'once');
    p.run(() => c.state === TcpState.Established, 5000);
    p.run(() => false, 500);
    expect(dropped).toBe(1);
    expect(c.stats.timeouts).toBe(1);
    expect(got).toHaveLength(1);
    expect(got[0].data).toBe('once');
    expect(c.fastOpen).toBe('accepted');
    expect(c.sendQueued).toBe(0);
  });

  it('server policy: SYN data taken without a valid cookie from clients it trusts', () => {
    const p = new Pair({ tcp: { congestionControl: 'newreno' } });
    const { got } = serve(p, (a) => a[0] === 198);
    const cache = new TfoCookieCache();
    cache.set(B_ADDR, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0), 1460);
    const c = open(p, cache, 'trusted');
    p.run(() => got.length === 1, 1000);
    expect(got[0].state).toBe(TcpState.SynReceived);
    expect(got[0].data).toBe('trusted');
    p.run(() => c.state === TcpState.Established, 1000);
    expect(c.fastOpen).toBe('accepted');
  });
});
