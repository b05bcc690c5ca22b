// Middleboxes on simulated links: option stripping, payload corruption with and without checksum
// repair, dropping by predicate, and the NAT in both directions, checked on the bytes that arrive.
import { describe, expect, it } from 'vitest';
import {
  corruptTcpPayload,
  dropMatching,
  fixTransportChecksum,
  hasTcpOption,
  isTcpSyn,
  type Middlebox,
  stripTcpOption,
} from '../../src/sim/middlebox.js';
import { Nat } from '../../src/sim/nat.js';
import { Network } from '../../src/sim/network.js';
import { formatIp, parseIp } from '../../src/wire/addr.js';
import { u16 } from '../../src/wire/bytes.js';
import { MPTCP_SUBTYPE } from '../../src/wire/mptcp/subtype.js';
import { PacketView, parsePacket } from '../../src/wire/packet.js';
import { TCP_FLAG } from '../../src/wire/tcp.js';
import { TCPOPT } from '../../src/wire/tcp-options.js';
import { A, B, Scripted, Sink, tcpPacket, udpPacket } from './nodes.js';

const KEY = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
const synMpc = () =>
  tcpPacket({
    flags: TCP_FLAG.syn,
    options: [
      { type: 'mss', mss: 1460 },
      { type: 'mp_capable', version: 1, flags: 0x81 },
      { type: 'sack_permitted' },
    ],
  });
const ackDss = (payload: Uint8Array) =>
  tcpPacket({
    flags: TCP_FLAG.ack,
    options: [{ type: 'mp_capable', version: 1, flags: 0x81, senderKey: KEY, receiverKey: KEY }],
    payload,
  });

/** Sends the scripted packets over one link carrying `boxes`; returns what arrived. */
function through(boxes: Middlebox[], script: { at: number; bytes: Uint8Array }[]) {
  const net = new Network({ seed: 5 });
  net.addNode('a', new Scripted(script));
  const sink = new Sink();
  net.addNode('b', sink);
  const link = net.addLink('a', 'b', { rate: 100e6, delay: 1, middleboxes: boxes });
  net.run(Infinity);
  return { got: sink.arrivals.map((x) => x.bytes), link };
}

function view(p: Uint8Array): PacketView {
  const v = new PacketView();
  expect(v.wrap(p)).toBeUndefined();
  return v;
}

function optionKinds(p: Uint8Array): number[] {
  const parsed = parsePacket(p);
  if (!('ip' in parsed) || !parsed.tcp) throw new Error('not TCP');
  return parsed.tcp.options.map((o) =>
    o.type === 'nop'
      ? TCPOPT.nop
      : o.type === 'mss'
        ? TCPOPT.mss
        : o.type === 'sack_permitted'
          ? 4
          : o.type === 'mp_capable'
            ? 30
            : -1,
  );
}

describe('stripTcpOption', () => {
  it('replaces MPTCP options with NOPs on SYNs and fixes the checksum', () => {
    const strip = stripTcpOption(TCPOPT.mptcp, { synOnly: true });
    const syn = synMpc();
    const ack = ackDss(new Uint8Array([9, 9, 9]));
    const { got } = through(
      [strip],
      [
        { at: 0, bytes: syn },
        { at: 1, bytes: ack },
      ],
    );
    expect(optionKinds(syn)).toEqual([2, 30, 4]);
    expect(optionKinds(got[0])).toEqual([2, 1, 1, 1, 1, 4]);
    expect(got[0].length).toBe(syn.length);
    expect(view(got[0]).tcpChecksumOk()).toBe(true);
    // Only the options changed.
    let diff = 0;
    for (let i = 0; i < syn.length; i++) if (syn[i] !== got[0][i]) diff++;
    expect(diff).toBeLessThanOrEqual(4 + 2);
    // Not a SYN: untouched.
    expect(got[1]).toEqual(ack);
    expect(strip.hits).toBe(1);
  });

  it('acts on every segment, or only from a given time', () => {
    const strip = stripTcpOption(TCPOPT.mptcp, { from: 5 });
    const { got } = through(
      [strip],
      [
        { at: 0, bytes: ackDss(new Uint8Array(10)) },
        { at: 6, bytes: ackDss(new Uint8Array(10)) },
        { at: 7, bytes: synMpc() },
      ],
    );
    expect(optionKinds(got[0])).toContain(30);
    expect(optionKinds(got[1])).not.toContain(30);
    expect(optionKinds(got[2])).toEqual([2, 1, 1, 1, 1, 4]);
    for (const p of got) expect(view(p).tcpChecksumOk()).toBe(true);
  });
});

describe('over IPv6', () => {
  it('strips options and corrupts payload with correct IPv6 pseudo-header checksums', () => {
    const v6 = { src: '2001:db8:1::2', dst: '2001:db8:ff::1' };
    const syn = tcpPacket({
      ...v6,
      flags: TCP_FLAG.syn,
      options: [{ type: 'mp_capable', version: 1, flags: 0x81 }],
    });
    const data = tcpPacket({ ...v6, flags: TCP_FLAG.ack, payload: new Uint8Array(100).fill(7) });
    expect(view(syn).tcpChecksumOk()).toBe(true);
    const { got } = through(
      [stripTcpOption(TCPOPT.mptcp), corruptTcpPayload({ fixChecksum: true })],
      [
        { at: 0, bytes: syn },
        { at: 1, bytes: data },
      ],
    );
    expect(view(got[0]).version).toBe(6);
    expect(optionKinds(got[0])).toEqual([1, 1, 1, 1]);
    expect(view(got[0]).tcpChecksumOk()).toBe(true);
    expect(got[1]).not.toEqual(data);
    expect(view(got[1]).tcpChecksumOk()).toBe(true);
  });

  it('NATs IPv6 when the public address is IPv6', () => {
    const nat = new Nat({ publicAddress: '2001:db8:ffff::1', portMin: 30000 });
    const p = tcpPacket({ src: '2001:db8:1::2', dst: '2001:db8:ff::1', flags: TCP_FLAG.syn });
    const { got } = through([nat.outbound], [{ at: 0, bytes: p }]);
    const v = view(got[0]);
    expect(formatIp(v.v6.buf, v.v6.srcOff, 16)).toBe('2001:db8:ffff::1');
    expect(v.tcp.srcPort).toBe(30000);
    expect(v.tcpChecksumOk()).toBe(true);
  });
});

describe('corruptTcpPayload', () => {
  const payload = new Uint8Array(500).map((_, i) => i);

  function diffBytes(a: Uint8Array, b: Uint8Array): number[] {
    const out: number[] = [];
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
    return out;
  }

  it('with the checksum fixed, only the payload changes and TCP accepts it', () => {
    const sent = ackDss(payload);
    const { got } = through([corruptTcpPayload({ fixChecksum: true })], [{ at: 0, bytes: sent }]);
    const v = view(got[0]);
    const d = diffBytes(sent, got[0]);
    const payloadDiffs = d.filter((i) => i >= v.tcp.payloadOff);
    expect(payloadDiffs.length).toBe(1);
    // The other differences are the checksum field.
    for (const i of d) if (i < v.tcp.payloadOff) expect([v.tcp.off + 16, v.tcp.off + 17]).toContain(i);
    expect(v.tcpChecksumOk()).toBe(true);
  });

  it('with the checksum left broken, TCP rejects it', () => {
    const sent = ackDss(payload);
    const { got } = through([corruptTcpPayload({ fixChecksum: false, bytes: 3 })], [{ at: 0, bytes: sent }]);
    const v = view(got[0]);
    const d = diffBytes(sent, got[0]);
    expect(d.length).toBeGreaterThanOrEqual(1);
    expect(d.every((i) => i >= v.tcp.payloadOff)).toBe(true);
    expect(v.tcpChecksumOk()).toBe(false);
  });

  it('leaves segments without payload alone and honours limit and probability', () => {
    const box = corruptTcpPayload({ fixChecksum: true, limit: 2 });
    const script = [
      { at: 0, bytes: synMpc() },
      ...[1, 2, 3, 4].map((at) => ({ at, bytes: ackDss(payload) })),
    ];
    const { got } = through([box], script);
    expect(got[0]).toEqual(script[0].bytes);
    expect(box.hits).toBe(2);
    expect(got.slice(1).filter((p, i) => diffBytes(p, script[i + 1].bytes).length > 0).length).toBe(2);

    const half = corruptTcpPayload({ fixChecksum: true, probability: 0.5 });
    const many = Array.from({ length: 400 }, (_, i) => ({ at: i, bytes: ackDss(payload) }));
    through([half], many);
    expect(half.hits).toBeGreaterThan(150);
    expect(half.hits).toBeLessThan(250);
  });
});

describe('dropMatching', () => {
  it('drops what matches and counts it as a middlebox drop', () => {
    const join = tcpPacket({
      flags: TCP_FLAG.syn,
      options: [{ type: 'mp_join', form: 'syn', backup: false, addressId: 1, token: 7, nonce: 9 }],
    });
    const box = dropMatching(
      (p, ctx) => isTcpSyn(p, ctx) && hasTcpOption(TCPOPT.mptcp, MPTCP_SUBTYPE.mpJoin)(p, ctx),
    );
    const { got, link } = through(
      [box],
      [
        { at: 0, bytes: synMpc() },
        { at: 1, bytes: join },
        { at: 2, bytes: ackDss(new Uint8Array(4)) },
      ],
    );
    expect(got.length).toBe(2);
    expect(box.hits).toBe(1);
    expect(link.stats.dropped.middlebox).toBe(1);
  });
});

describe('NAT', () => {
  const PUBLIC = '198.19.255.1';

  function natPair(
    nat: Nat,
    aScript: { at: number; bytes: Uint8Array }[],
    bScript: { at: number; bytes: Uint8Array }[],
  ) {
    const net = new Network({ seed: 3 });
    const a = new Scripted(aScript);
    const b = new Scripted(bScript);
    net.addNode('a', a);
    net.addNode('b', b);
    const lte = net.connect('a', 'b', { name: 'lte', rate: 50e6, delay: 20 });
    lte.ab.addMiddlebox(nat.outbound);
    lte.ba.addMiddlebox(nat.inbound);
    net.run(Infinity);
    return { a, b };
  }

  it('rewrites the source on the way out and the destination on the way back, checksums fixed', () => {
    const nat = new Nat({ publicAddress: PUBLIC, portMin: 20000, portMax: 20010 });
    const syn = tcpPacket({ src: A, dst: B, sport: 40000, dport: 80, flags: TCP_FLAG.syn });
    const udp = udpPacket(A, B, 5000, 53, 100, 1);
    // The reply goes to the public endpoint, which b learns from what it receives.
    const reply = tcpPacket({
      src: B,
      dst: PUBLIC,
      sport: 80,
      dport: 20000,
      flags: TCP_FLAG.syn | TCP_FLAG.ack,
    });
    const { a, b } = natPair(
      nat,
      [
        { at: 0, bytes: syn },
        { at: 1, bytes: udp },
      ],
      [{ at: 100, bytes: reply }],
    );

    const out = view(b.arrivals[0].bytes);
    expect(formatIp(out.v4.buf, out.v4.srcOff, 4)).toBe(PUBLIC);
    expect(formatIp(out.v4.buf, out.v4.dstOff, 4)).toBe(B);
    expect(out.tcp.srcPort).toBe(20000);
    expect(out.v4.verifyChecksum()).toBe(true);
    expect(out.tcpChecksumOk()).toBe(true);

    const u = b.arrivals[1].bytes;
    expect(formatIp(u, 12, 4)).toBe(PUBLIC);
    expect(u16(u, 20)).toBe(20001);
    // The UDP checksum still verifies: recomputing it leaves it unchanged.
    const uv = view(u);
    const before = u16(u, 26);
    fixTransportChecksum(uv);
    expect(u16(u, 26)).toBe(before);

    const back = view(a.arrivals[0].bytes);
    expect(formatIp(back.v4.buf, back.v4.dstOff, 4)).toBe(A);
    expect(back.tcp.dstPort).toBe(40000);
    expect(back.v4.verifyChecksum()).toBe(true);
    expect(back.tcpChecksumOk()).toBe(true);
    expect(nat.stats.translatedOut).toBe(2);
    expect(nat.stats.translatedIn).toBe(1);
    expect(nat.publicPortOf(6, A, 40000)).toBe(20000);
  });

  it('drops unsolicited inbound packets and reuses a mapping per inside endpoint', () => {
    const nat = new Nat({ publicAddress: PUBLIC });
    const s1 = tcpPacket({ sport: 40000, flags: TCP_FLAG.syn });
    const s2 = tcpPacket({ sport: 40000, flags: TCP_FLAG.ack, seq: 1001 });
    const probe = tcpPacket({ src: B, dst: PUBLIC, sport: 80, dport: 33333, flags: TCP_FLAG.syn });
    const { a, b } = natPair(
      nat,
      [
        { at: 0, bytes: s1 },
        { at: 1, bytes: s2 },
      ],
      [{ at: 0, bytes: probe }],
    );
    expect(a.arrivals.length).toBe(0);
    expect(nat.stats.droppedInbound).toBe(1);
    expect(nat.stats.mappingsCreated).toBe(1);
    expect(b.arrivals.map((x) => u16(x.bytes, 20))).toEqual([1024, 1024]);
  });

  it('expires idle mappings, and filters by remote when asked', () => {
    const nat = new Nat({ publicAddress: PUBLIC, idleTimeout: 1000, filtering: 'address-port-dependent' });
    const out = (at: number) => ({ at, bytes: tcpPacket({ sport: 40000, flags: TCP_FLAG.ack }) });
    const fromB = (at: number, sport: number, dport: number) => ({
      at,
      bytes: tcpPacket({ src: B, dst: PUBLIC, sport, dport, flags: TCP_FLAG.ack }),
    });
    const { a, b } = natPair(
      nat,
      [out(0), out(500), out(3000)],
      // Right remote, wrong remote port, and after expiry.
      [fromB(100, 80, 1024), fromB(200, 81, 1024), fromB(1600, 80, 1024)],
    );
    expect(b.arrivals.map((x) => u16(x.bytes, 20))).toEqual([1024, 1024, 1025]);
    expect(a.arrivals.length).toBe(1);
    expect(nat.stats.droppedInbound).toBe(2);
  });

  it('passes packets of the other IP version untouched', () => {
    const nat = new Nat({ publicAddress: '2001:db8:ffff::1' });
    const p = udpPacket(A, B, 1, 2, 64, 0);
    const { got } = through([nat.outbound], [{ at: 0, bytes: p }]);
    expect(got[0]).toEqual(p);
    expect(parseIp('2001:db8:ffff::1').length).toBe(16);
  });
});
