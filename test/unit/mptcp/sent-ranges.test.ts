// The record of which subflow first carried each data range (src/mptcp/sent-ranges.ts): merging
// of contiguous sends, lookup of the range holding a DSN, trimming by DATA_ACK, growth past the
// initial capacity, and a closed subflow's ranges naming no subflow; against a plain list model.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SentRanges } from '../../../src/mptcp/sent-ranges.js';
import type { Subflow } from '../../../src/mptcp/subflow.js';

const A = { name: 'a' } as unknown as Subflow;
const B = { name: 'b' } as unknown as Subflow;

describe('SentRanges', () => {
  it('merges contiguous sends of one subflow within 1 ms, and finds the range of a DSN', () => {
    const r = new SentRanges();
    r.add(A, 1, 100, 5, 0);
    r.add(A, 101, 100, 5, 100); // same subflow, time, contiguous: merged
    r.add(A, 201, 50, 6, 200); // later: its own range
    r.add(B, 251, 50, 6, 0);
    expect(r.size).toBe(3);
    const i = r.find(150);
    expect(r.subflowAt(i)).toBe(A);
    expect(r.endAt(i)).toBe(201);
    expect(r.sentAt(i)).toBe(5);
    expect(r.offsetOf(i, 150)).toBe(149);
    const j = r.find(260);
    expect(r.subflowAt(j)).toBe(B);
    expect(r.offsetOf(j, 260)).toBe(9);
    expect(r.find(301)).toBe(-1);
    expect(r.find(0)).toBe(-1);
    r.trim(201);
    expect(r.size).toBe(2);
    expect(r.find(150)).toBe(-1);
    r.forget(B);
    expect(r.subflowAt(r.find(260))).toBeUndefined();
  });

  it('agrees with a list model through growth and trimming (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ len: fc.integer({ min: 1, max: 3000 }), b: fc.boolean(), trim: fc.nat(4000) }), {
          maxLength: 400,
        }),
        (ops) => {
          const r = new SentRanges();
          const model: { start: number; end: number; sf: Subflow; at: number }[] = [];
          let dsn = 1;
          let una = 1;
          ops.forEach((op, t) => {
            const sf = op.b ? B : A;
            r.add(sf, dsn, op.len, t, 0);
            model.push({ start: dsn, end: dsn + op.len, sf, at: t });
            dsn += op.len;
            una = Math.min(dsn, una + op.trim);
            r.trim(una);
            while (model.length && model[0].end <= una) model.shift();
            const probe = Math.max(una, dsn - 1 - op.trim);
            const m = model.find((x) => probe >= x.start && probe < x.end);
            const i = r.find(probe);
            if (!m) expect(i).toBe(-1);
            else {
              expect(r.subflowAt(i)).toBe(m.sf);
              expect(r.endAt(i)).toBe(m.end);
              expect(r.sentAt(i)).toBe(m.at);
            }
          });
          expect(r.size).toBe(model.length);
        },
      ),
    );
  });
});
