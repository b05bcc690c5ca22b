// PollQueue, the stack's round robin of sockets with something to send: each at most once, the
// front one to the back after it sent, dropped when it had nothing unless it was added again while
// it was polled, deleted ones skipped; no order lost when the ring grows.
import { describe, expect, it } from 'vitest';
import { PollQueue } from '../../../src/tcp/poll-queue.js';

/** Polls until empty; `sends(x, round)` says whether x sent (then it goes to the back). */
function drain(q: PollQueue<string>, sends: (x: string) => boolean): string[] {
  const order: string[] = [];
  for (let x = q.take(); x !== undefined; x = q.take()) {
    order.push(x);
    if (sends(x)) q.rotate();
    else q.dropFront();
  }
  return order;
}

describe('PollQueue', () => {
  it('is a round robin of distinct members', () => {
    const q = new PollQueue<string>();
    for (const x of ['a', 'b', 'a', 'c', 'b']) q.add(x);
    const left = new Map([
      ['a', 2],
      ['b', 1],
      ['c', 0],
    ]);
    const sends = (x: string) => {
      const n = left.get(x) ?? 0;
      left.set(x, n - 1);
      return n > 0;
    };
    expect(drain(q, sends)).toEqual(['a', 'b', 'c', 'a', 'b', 'a']);
    expect(q.take()).toBeUndefined();
    q.add('c');
    expect(drain(q, () => false)).toEqual(['c']);
  });

  it('keeps one that was added again while it was polled, and skips deleted ones', () => {
    const q = new PollQueue<string>();
    q.add('a');
    q.add('b');
    q.add('c');
    let woke = false;
    const order = drain(q, (x) => {
      if (x === 'a' && !woke) {
        woke = true;
        q.add('a'); // its poll woke it up again (say, the application wrote)
        q.delete('b');
      }
      return false;
    });
    expect(order).toEqual(['a', 'c', 'a']);
  });

  it('keeps the order when the ring grows', () => {
    const q = new PollQueue<string>();
    const names = Array.from({ length: 20 }, (_, i) => `s${i}`);
    q.add(names[0]);
    q.add(names[1]);
    expect(q.take()).toBe('s0');
    q.rotate(); // the ring's head is not at index 0 when it grows
    for (const x of names.slice(2)) q.add(x);
    expect(drain(q, () => false)).toEqual(['s1', 's0', ...names.slice(2)]);
  });
});
