// What the quota tests compare the CPE's count with: an interface's bytes both ways as the kernel
// counts them (sysfs, in a namespace of the test), and the 1% the issue allows between the two.
import { expect } from 'vitest';
import type { Netns } from './netns.js';

/** rx_bytes + tx_bytes of interface `dev` in namespace `where`. */
export function ifaceBytes(ns: Netns, where: string, dev: string): number {
  const [rx, tx] = ns
    .sh(where, `cat /sys/class/net/${dev}/statistics/rx_bytes /sys/class/net/${dev}/statistics/tx_bytes`)
    .trim()
    .split('\n')
    .map(Number);
  return rx + tx;
}

/** The count within 1% of the interface's counters (both printed for the test's log). */
export function within1pct(counted: number, expected: number): void {
  process.stdout.write(`quota counted ${counted} bytes, interface counters ${expected}\n`);
  expect(Math.abs(counted - expected)).toBeLessThanOrEqual(expected * 0.01);
}
