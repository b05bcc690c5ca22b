// Bonded or direct (cpe/daemon/hag-link.ts): a failure marks the HAG down and moves to the next
// address; the check runs every retryAfter, on each address in turn, until one answers; a
// connection that reached the HAG brings bonding back at once.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HagLink } from '../../cpe/daemon/hag-link.js';

const log = pino({ level: 'silent' });

describe('HAG link', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('down on failure, checked on each address in turn every retryAfter, up when one answers', async () => {
    const asked: string[] = [];
    let answer: true | string = 'no answer';
    const link = new HagLink(
      log,
      async (a) => {
        asked.push(a);
        return answer;
      },
      1000,
      ['198.18.100.1', '198.18.100.2'],
    );
    expect(link.usable).toBe(true);
    expect(link.address).toBe('198.18.100.1');
    link.failed('no answer from the HAG within 3000 ms');
    expect(link.usable).toBe(false);
    expect(link.reason).toBe('no answer from the HAG within 3000 ms');
    expect(link.address).toBe('198.18.100.2');
    await vi.advanceTimersByTimeAsync(999);
    expect(asked).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toEqual(['198.18.100.2']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(asked).toEqual(['198.18.100.2', '198.18.100.1']);
    answer = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(asked.at(-1)).toBe('198.18.100.2');
    expect(link.usable).toBe(true);
    expect(link.address).toBe('198.18.100.2');
    // No more checks once up.
    await vi.advanceTimersByTimeAsync(5000);
    expect(asked.length).toBe(3);
    link.stop();
  });

  it('a connection that reached the HAG ends the down state at once; a second failure is one event', () => {
    const link = new HagLink(log, async () => 'x', 1000, ['198.18.100.1']);
    link.failed('a');
    link.failed('b');
    expect(link.reason).toBe('a');
    link.ok();
    expect(link.usable).toBe(true);
    expect(link.address).toBe('198.18.100.1');
    link.stop();
  });

  it('pick: the address in use, or the next one that fits (an address family a usable uplink has)', () => {
    const link = new HagLink(log, async () => 'x', 1000, ['198.18.100.1', '2001:db8:100::1']);
    expect(link.pick(() => true)).toBe('198.18.100.1');
    expect(link.pick((a) => a.includes(':'))).toBe('2001:db8:100::1');
    expect(link.pick(() => false)).toBe('198.18.100.1');
    link.stop();
  });
});
