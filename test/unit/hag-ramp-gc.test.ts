// The HAG's collection after a ramp of opens (hag/ramp-gc.ts): once per ramp, only after it ends.
import { describe, expect, it } from 'vitest';
import { type GcFunction, RampGc } from '../../hag/ramp-gc.js';

function counting(): { gc: GcFunction; calls: unknown[] } {
  const calls: unknown[] = [];
  const gc: GcFunction = (o) => {
    calls.push(o);
    return undefined;
  };
  return { calls, gc };
}

/** One second of the daemon: `n` opens, then its tick. */
function second(r: RampGc, n: number): boolean {
  for (let i = 0; i < n; i++) r.opened();
  return r.tick();
}

describe('RampGc', () => {
  it('collects once when a ramp of 1,000 opens is followed by two quiet seconds', () => {
    const { gc, calls } = counting();
    const seen: number[] = [];
    const r = new RampGc(gc, (opens) => seen.push(opens));
    for (let s = 0; s < 6; s++) expect(second(r, 300)).toBe(false); // the ramp
    expect(second(r, 5)).toBe(false); // one quiet second
    expect(second(r, 0)).toBe(true); // the second ends it
    expect(calls).toEqual([{ type: 'major', execution: 'async', flavor: 'last-resort' }]);
    expect(seen).toEqual([1805]);
    for (let s = 0; s < 20; s++) second(r, 0); // idle: no more
    expect(calls.length).toBe(1);
  });

  it('does not collect during a ramp, after a small one, or without an exposed gc', () => {
    const { gc, calls } = counting();
    const r = new RampGc(gc);
    for (let s = 0; s < 30; s++) second(r, 100); // a steady 100/s never goes quiet
    expect(calls.length).toBe(0);
    const small = new RampGc(gc);
    second(small, 500);
    for (let s = 0; s < 5; s++) second(small, 0);
    expect(calls.length).toBe(0);
    const none = new RampGc(undefined);
    second(none, 2000);
    expect([second(none, 0), second(none, 0)]).toEqual([false, false]);
  });

  it('counts opens across quiet seconds toward the next ramp', () => {
    const { gc, calls } = counting();
    const r = new RampGc(gc);
    second(r, 900);
    second(r, 0);
    second(r, 0); // 900: not yet a ramp
    second(r, 200);
    second(r, 0);
    expect(second(r, 0)).toBe(true);
    expect(calls.length).toBe(1);
  });
});
