// sortSubflows, the schedulers' in-place insertion sort: the same order as a stable
// Array.prototype.sort by the same comparison, over only the first n entries.
import { describe, expect, it } from 'vitest';
import { sortSubflows } from '../../../src/mptcp/sched/scheduler.js';
import type { Subflow } from '../../../src/mptcp/subflow.js';

describe('sortSubflows', () => {
  it('orders the first n entries stably by the comparison and leaves the rest', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const key = (s: Subflow) => (s as unknown as { k: number }).k;
    const cmp = (a: Subflow, b: Subflow) => key(a) - key(b);
    for (let round = 0; round < 200; round++) {
      const len = 1 + (rand() % 8);
      const items = Array.from({ length: len }, (_, i) => ({ k: rand() % 4, i }) as unknown as Subflow);
      const n = rand() % (len + 1);
      const out = items.slice();
      sortSubflows(out, n, cmp);
      expect(out).toEqual([...items.slice(0, n)].sort(cmp).concat(items.slice(n)));
    }
  });
});
