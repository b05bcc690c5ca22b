// The quota as billed (cpe/quota, issue 15 item 3) under a fake clock: billing periods with a
// reset day (month, ISO week, day), the rollover at the reset day's midnight, the warning share
// and the limit (backup-only, RFC 8684 3.3.8, lifted by the new period), counters that started
// again (reboot, recreated interface, reset in place), and the state file: a restart continues the
// count, a killed daemon loses nothing, a power cut at most `saveInterval`.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseCpeConfig } from '../../cpe/daemon/config.js';
import { Uplinks } from '../../cpe/daemon/uplinks.js';
import { QuotaMeter } from '../../cpe/quota/meter.js';
import { periodAt } from '../../cpe/quota/period.js';
import { loadQuotaState, quotaFile } from '../../cpe/quota/store.js';
import type { PmAddress } from '../../src/mptcp/pm/client.js';
import { tempDir } from './lib/temp-dir.js';

const at = (y: number, m: number, d: number, h = 0, min = 0) => new Date(y, m - 1, d, h, min).getTime();

describe('quota periods', () => {
  it('a month starts at midnight of its reset day', () => {
    expect(periodAt('month', 15, at(2026, 11, 14, 23, 59))).toEqual({
      start: at(2026, 10, 15),
      end: at(2026, 11, 15),
    });
    expect(periodAt('month', 15, at(2026, 11, 15))).toEqual({
      start: at(2026, 11, 15),
      end: at(2026, 12, 15),
    });
    // Across the year, and the 1st as before.
    expect(periodAt('month', 28, at(2027, 1, 3))).toEqual({ start: at(2026, 12, 28), end: at(2027, 1, 28) });
    expect(periodAt('month', 1, at(2026, 2, 28, 12))).toEqual({ start: at(2026, 2, 1), end: at(2026, 3, 1) });
  });

  it('a week starts at midnight of its ISO weekday, a day at midnight', () => {
    // 2026-12-02 is a Wednesday.
    expect(periodAt('week', 1, at(2026, 12, 2, 10))).toEqual({
      start: at(2026, 11, 30),
      end: at(2026, 12, 7),
    });
    expect(periodAt('week', 3, at(2026, 12, 2, 10))).toEqual({
      start: at(2026, 12, 2),
      end: at(2026, 12, 9),
    });
    expect(periodAt('week', 7, at(2026, 12, 2, 10))).toEqual({
      start: at(2026, 11, 29),
      end: at(2026, 12, 6),
    });
    expect(periodAt('day', 1, at(2026, 12, 2, 10))).toEqual({ start: at(2026, 12, 2), end: at(2026, 12, 3) });
  });
});

describe('quota meter', () => {
  const settings = { interface: 'lte0', limit: 1000, period: 'month' as const, resetDay: 15, warnAt: 0.8 };

  it('counts both directions from the first reading; counters that started again count from zero', () => {
    const m = new QuotaMeter(settings, at(2026, 11, 20));
    // What the interface had before the meter first saw it is not counted.
    expect(m.update({ rx: 5000, tx: 5000, key: 'b1/3' }, at(2026, 11, 20))).toEqual([]);
    m.update({ rx: 5100, tx: 5050, key: 'b1/3' }, at(2026, 11, 20, 1));
    expect(m.used).toBe(150);
    // Rebooted (another boot id) or the interface recreated (another ifindex): all of it is new.
    m.update({ rx: 30, tx: 20, key: 'b2/3' }, at(2026, 11, 20, 2));
    expect(m.used).toBe(200);
    m.update({ rx: 40, tx: 20, key: 'b2/7' }, at(2026, 11, 20, 3));
    expect(m.used).toBe(260);
    // rx reset in place (below the last reading, same key): its 5 are new; tx went on by 5.
    m.update({ rx: 5, tx: 25, key: 'b2/7' }, at(2026, 11, 20, 4));
    expect(m.used).toBe(270);
    // An unreadable interface counts nothing and keeps the last reading.
    m.update('no such interface', at(2026, 11, 20, 5));
    m.update({ rx: 15, tx: 25, key: 'b2/7' }, at(2026, 11, 20, 6));
    expect(m.used).toBe(280);
  });
});

const yaml = (dir: string, quota: string) => `lan: {interface: lan0, addresses: [198.18.5.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, role: primary}
  - {name: lte, interface: lte0, address: 198.18.12.2/24, gateway: 198.18.12.1, role: overflow, quota: ${quota}}
hag: {addresses: [198.18.100.1]}
state: {directory: ${dir}}
`;

/** Uplinks over a recording path manager, a fake clock and fake LTE counters. */
function uplinks(
  dir: string,
  quota = '{bytes: 1MB, period: month, resetDay: 15}',
  start = at(2026, 11, 14, 23, 50),
) {
  const r = parseCpeConfig(yaml(dir, quota), 'cpe.yaml', { interfaceExists: (n) => n !== 'cpe0' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  const calls: PmAddress[] = [];
  const pm = { setAddress: (_: number, a: PmAddress) => calls.push({ ...a }), addressOf: () => undefined };
  const clock = { now: start };
  const lte0 = { rx: 0, tx: 0, key: 'boot1/3' };
  const saved = Date.now;
  Date.now = () => clock.now; // the Uplink's own period at construction
  const ups = new Uplinks(r.value, pm as never, pino({ level: 'silent' }), () => []);
  Date.now = saved;
  ups.netExec = () => undefined; // route commands never run on this host
  ups.clock = () => clock.now;
  ups.readCounters = (name) => (name === 'lte0' ? { ...lte0 } : 'no such interface');
  const events: string[] = [];
  ups.on('quota', (_u, kind) => events.push(kind));
  const lte = ups.list[1];
  const tick = (ms: number) => {
    clock.now += ms;
    ups.tick();
  };
  return { ups, lte, lte0, clock, events, calls, tick };
}

describe('CPE uplink quota', () => {
  it('warns at the share, turns backup-only at the limit, and the reset day starts over', () => {
    const dir = tempDir('ha-quota-');
    const { lte, lte0, events, calls, tick } = uplinks(
      dir,
      '{bytes: 1MB, period: month, resetDay: 15, warnAt: 75}',
    );
    tick(1000);
    lte0.rx = 700_000;
    tick(1000);
    expect(events).toEqual([]);
    lte0.tx = 60_000;
    tick(1000);
    expect(events).toEqual(['quota-warning']);
    expect(lte.quota?.warned).toBe(true);
    lte0.rx = 950_000;
    tick(1000);
    expect(events).toEqual(['quota-warning', 'quota-exhausted']);
    expect(lte.backup).toBe(true);
    expect(calls.at(-1)).toMatchObject({ id: 2, backup: true });
    // Past midnight of the 15th: a new period, the uplink regular again, counting from zero.
    tick(10 * 60_000);
    expect(events.at(-1)).toBe('quota-reset');
    expect(lte.quota?.used).toBe(0);
    expect(lte.quota?.span).toEqual({ start: at(2026, 11, 15), end: at(2026, 12, 15) });
    expect(lte.backup).toBe(false);
    expect(calls.at(-1)).toMatchObject({ id: 2, backup: false });
    lte0.rx += 1234;
    tick(1000);
    expect(lte.quota?.used).toBe(1234);
    expect(lte.quotaEvents).toEqual({ 'quota-warning': 1, 'quota-exhausted': 1, 'quota-reset': 1 });
  });

  it('a restart mid-period continues the count, also its exhaustion', () => {
    const dir = tempDir('ha-quota-');
    const a = uplinks(dir, '{bytes: 1MB, period: month, resetDay: 15}', at(2026, 11, 20));
    a.tick(1000);
    a.lte0.rx = 600_000;
    a.lte0.tx = 500_000;
    a.tick(1000);
    expect(a.lte.backup).toBe(true);
    a.lte0.rx += 1000;
    a.ups.stop(); // a clean exit saves up to now
    expect(readdirSync(dir)).toEqual(['quota-lte.json']); // no temporary file left
    const b = uplinks(dir, '{bytes: 1MB, period: month, resetDay: 15}', a.clock.now + 5000);
    b.lte0.rx = a.lte0.rx;
    b.lte0.tx = a.lte0.tx;
    expect(b.lte.quota?.used).toBe(1_101_000);
    expect(b.lte.backup).toBe(true);
    // The same counters as before the restart: only what came since is added.
    b.lte0.rx += 500;
    b.tick(1000);
    expect(b.lte.quota?.used).toBe(1_101_500);
    expect(b.events).toEqual([]); // warnings are not given twice
  });

  it('a killed daemon loses nothing; a power cut loses at most saveInterval', () => {
    const dir = tempDir('ha-quota-');
    const q = '{bytes: 10GB, saveInterval: 60s}';
    const a = uplinks(dir, q, at(2026, 11, 20));
    a.tick(1000);
    for (let i = 0; i < 100; i++) {
      a.lte0.rx += 10_000;
      a.tick(1000);
    }
    // Saved at 60 s; the 40 s after it are not in the file. Killed now (no stop()).
    const counted = a.lte.quota?.used ?? 0;
    expect(counted).toBe(1_000_000);
    const saved = loadQuotaState(quotaFile(dir, 'lte'));
    if (typeof saved !== 'object') throw new Error(String(saved));
    expect(counted - saved.used).toBeLessThanOrEqual(60 * 10_000);
    expect(counted - saved.used).toBeGreaterThan(0);
    // SIGKILL, same boot: the interface kept counting, so nothing is lost.
    const b = uplinks(dir, q, a.clock.now + 2000);
    b.lte0.rx = a.lte0.rx + 7;
    b.tick(1000);
    expect(b.lte.quota?.used).toBe(counted + 7);
    // Power cut: another boot, counters from zero; what came after the last save is lost, no more.
    const savedB = loadQuotaState(quotaFile(dir, 'lte')) as { used: number };
    const c = uplinks(dir, q, a.clock.now + 60_000);
    c.lte0.key = 'boot2/3';
    c.lte0.rx = 3000;
    c.tick(1000);
    const after = c.lte.quota?.used ?? 0;
    expect(after).toBe(savedB.used + 3000);
    expect(counted + 7 + 3000 - after).toBeLessThanOrEqual(60 * 10_000 + 7);
  });

  it('a damaged state file is logged and counting starts from zero', () => {
    const dir = tempDir('ha-quota-');
    writeFileSync(quotaFile(dir, 'lte'), '{"version": 1, "state": {"used": "lots"}}');
    expect(loadQuotaState(quotaFile(dir, 'lte'))).toMatch(/not a quota state file/);
    const { lte, lte0, tick } = uplinks(dir);
    tick(1000);
    lte0.rx = 10;
    tick(1000);
    expect(lte.quota?.used).toBe(10);
    tick(61_000);
    expect(JSON.parse(readFileSync(quotaFile(dir, 'lte'), 'utf8')).state.used).toBe(10);
  });

  it('a reload with a higher limit lifts the exhaustion and keeps the count', () => {
    const dir = tempDir('ha-quota-');
    const { ups, lte, lte0, tick } = uplinks(dir, '{bytes: 1MB}', at(2026, 11, 20));
    tick(1000);
    lte0.rx = 1_500_000;
    tick(1000);
    expect(lte.backup).toBe(true);
    const r = parseCpeConfig(yaml(dir, '{bytes: 2MB}'), 'cpe.yaml', { interfaceExists: (n) => n !== 'cpe0' });
    if (!r.ok) throw new Error('config');
    ups.reconfigure(r.value);
    expect(lte.backup).toBe(false);
    expect(lte.quota?.used).toBe(1_500_000);
  });
});
