// Fuzz: 100,000+ random and mutated packets through every parse path (the zero-copy views, the
// option cursor, every MPTCP suboption view, the plain-object parser, checksum verification).
// Nothing may throw, and no byte outside the packet's bounds may be read: each packet sits inside
// a larger buffer behind a Proxy that records every index read outside [off, off+len).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitPacket,
  MptcpOptionView,
  PacketView,
  packetLen,
  parsePacket,
  TCPOPT,
  TcpOptionCursor,
  WireError,
} from '../../../src/wire/index.js';
import * as A from './arbitraries.js';

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Guard {
  buf: Uint8Array;
  violations: number;
}

/** A view of `bytes` placed at `off` in a junk-filled buffer; reads outside are counted. */
function guarded(bytes: Uint8Array, off: number, pad: number, rnd: () => number): Guard {
  const raw = new Uint8Array(off + bytes.length + pad);
  for (let i = 0; i < raw.length; i++) raw[i] = (rnd() * 256) | 0;
  raw.set(bytes, off);
  const lo = off;
  const hi = off + bytes.length;
  const g: Guard = { buf: raw, violations: 0 };
  const inBounds = (a: number, b: number) => a >= lo && b <= hi && a <= b;
  g.buf = new Proxy(raw, {
    get(t, p) {
      if (typeof p === 'string') {
        const c = p.charCodeAt(0);
        if ((c >= 48 && c <= 57) || c === 45) {
          const i = Number(p);
          if (Number.isInteger(i)) {
            if (i < lo || i >= hi) g.violations++;
            return t[i];
          }
        }
        if (p === 'slice' || p === 'subarray') {
          return (a = 0, b = t.length) => {
            if (!inBounds(a, b)) g.violations++;
            return t[p](a, b);
          };
        }
      }
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return g;
}

const view = new PacketView();
const cursor = new TcpOptionCursor();
const mview = new MptcpOptionView();

/** Runs every parse path over buf[off, off+len); returns a label of the outcome. */
function exercise(buf: Uint8Array, off: number, len: number): string {
  const err = view.wrap(buf, off, len);
  let outcome = err ? err.kind : view.isTcp ? 'tcp' : `proto-${view.protocol}`;
  if (!err) {
    if (view.version === 4) view.v4.verifyChecksum();
    if (view.isTcp) {
      const t = view.tcp;
      view.tcpChecksumOk();
      void [t.srcPort, t.dstPort, t.seq, t.ack, t.flags, t.window, t.urgent, t.payloadLen];
      cursor.reset(buf, t.optionsOff, t.optionsLen);
      while (cursor.next()) {
        if (cursor.kind === TCPOPT.mptcp) {
          if (mview.wrap(buf, cursor.o, cursor.n) === undefined) mview.toRepr();
        } else if (cursor.kind === TCPOPT.sack) {
          for (let i = 0; i < cursor.sackBlocks; i++) void (cursor.sackLeft(i) + cursor.sackRight(i));
        } else if (cursor.kind === TCPOPT.timestamp) void (cursor.tsval + cursor.tsecr);
      }
      if (cursor.error) outcome = `opt-${cursor.error.kind}`;
    }
  }
  const parsed = parsePacket(buf, off, len);
  if (parsed instanceof WireError) outcome += `/${parsed.kind}`;
  return outcome;
}

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  const r = (n: number) => (rnd() * n) | 0;
  let b: Uint8Array = src.slice();
  const kind = r(6);
  if (kind === 0) {
    for (let i = 0, n = 1 + r(8); i < n && b.length; i++) b[r(b.length)] ^= 1 << r(8);
  } else if (kind === 1) {
    for (let i = 0, n = 1 + r(4); i < n && b.length; i++) b[r(b.length)] = r(256);
  } else if (kind === 2) {
    b = b.subarray(0, r(b.length + 1));
  } else if (kind === 3) {
    const ext = new Uint8Array(b.length + 1 + r(40));
    ext.set(b);
    for (let i = b.length; i < ext.length; i++) ext[i] = r(256);
    b = ext;
  } else if (kind === 4) {
    // Aim at the TCP options area (after a 20- or 40-byte IP header and 20 bytes of TCP).
    const base = (b[0] >> 4 === 6 ? 40 : 20) + 20;
    for (let i = 0, n = 1 + r(3); i < n; i++) {
      const at = base + r(40);
      if (at < b.length) b[at] = r(3) === 0 ? r(256) : r(48);
    }
  } else {
    // Header length fields: IHL, total length, IPv6 payload length, TCP data offset.
    const at = [0, 2, 3, 4, 5, 32, 52][r(7)];
    if (at < b.length) b[at] = r(256);
  }
  return b;
}

describe('fuzz', () => {
  it('100,000 random and mutated packets: no throw, no out-of-bounds read', () => {
    const rnd = prng(0xf022);
    const corpus = fc.sample(A.tcpPacket, { seed: 42, numRuns: 400 }).map((p) => {
      const b = new Uint8Array(packetLen(p));
      emitPacket(p, b);
      return b;
    });
    const outcomes = new Map<string, number>();
    let violations = 0;
    const N = 100_000;
    for (let i = 0; i < N; i++) {
      let pkt: Uint8Array;
      if (i % 4 === 0) {
        // Pure noise, half of it with a plausible version nibble.
        pkt = new Uint8Array((rnd() * 120) | 0);
        for (let j = 0; j < pkt.length; j++) pkt[j] = (rnd() * 256) | 0;
        if (pkt.length && i % 8 === 0) pkt[0] = (pkt[0] & 0x0f) | (rnd() < 0.5 ? 0x40 : 0x60);
      } else {
        pkt = mutate(corpus[(rnd() * corpus.length) | 0], rnd);
      }
      const off = (rnd() * 16) | 0;
      const g = guarded(pkt, off, 16, rnd);
      const outcome = exercise(g.buf, off, pkt.length);
      violations += g.violations;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(violations).toBe(0);
    const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(N);
    // The mutations must reach deep: valid TCP packets, option errors and MPTCP errors all occur.
    const keys = [...outcomes.keys()];
    expect(keys.some((k) => k.startsWith('tcp'))).toBe(true);
    expect(keys.some((k) => k.startsWith('opt-'))).toBe(true);
    expect(keys.some((k) => k.includes('unknown-subtype'))).toBe(true);
    expect(keys.some((k) => k.includes('truncated'))).toBe(true);
  });

  it('the guard itself detects an out-of-bounds read', () => {
    const g = guarded(new Uint8Array([0x45, 0, 0, 20]), 4, 8, prng(1));
    void g.buf[3];
    void g.buf[8];
    g.buf.slice(4, 9);
    expect(g.violations).toBe(3);
  });
});
