// Which uplink carries the LAN's non-TCP traffic and the direct connections
// (cpe/daemon/uplink-select.ts), in virtual time: the first usable by role (primary, overflow,
// backup), failover at once, back to a better uplink only after the hold-down, no switch when none
// is usable; and through cpe/daemon/uplinks.ts with a fake clock: probe verdicts and the per-uplink
// HAG check give the states (up, direct-only, down) and reasons, and a 'switch' event.
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { parseCpeConfig } from '../../cpe/daemon/config.js';
import { HagReach } from '../../cpe/daemon/hag-reach.js';
import { UplinkSelector } from '../../cpe/daemon/uplink-select.js';
import { type Uplink, Uplinks } from '../../cpe/daemon/uplinks.js';
import type { PmAddress } from '../../src/mptcp/pm/client.js';

describe('UplinkSelector', () => {
  it('starts on the primary whatever the config order; overflow before backup', () => {
    expect(new UplinkSelector(['backup', 'overflow', 'primary'], 1000).active).toBe(2);
    const s = new UplinkSelector(['backup', 'overflow', 'primary'], 1000);
    expect(s.step(0, [true, true, false])).toEqual({ from: 2, to: 1, why: 'failover' });
    expect(s.step(1, [true, false, false])).toEqual({ from: 1, to: 0, why: 'failover' });
  });

  it('fails over at once; returns to the primary only after it stayed usable for the hold-down', () => {
    const s = new UplinkSelector(['primary', 'overflow'], 30_000);
    expect(s.step(0, [true, true])).toBeUndefined();
    expect(s.step(1000, [false, true])).toEqual({ from: 0, to: 1, why: 'failover' });
    expect(s.active).toBe(1);
    expect(s.step(5000, [true, true])).toBeUndefined(); // back: the hold-down starts
    expect(s.returnAt).toBe(35_000);
    expect(s.step(34_999, [true, true])).toBeUndefined();
    expect(s.step(35_000, [true, true])).toEqual({ from: 1, to: 0, why: 'return' });
    expect(s.returnAt).toBeUndefined();
  });

  it('a primary that flaps during the hold-down starts it over', () => {
    const s = new UplinkSelector(['primary', 'overflow'], 10_000);
    s.step(0, [false, true]);
    s.step(1000, [true, true]);
    expect(s.step(8000, [false, true])).toBeUndefined(); // down again before 11000
    expect(s.step(9000, [true, true])).toBeUndefined(); // back: from 9000 on
    expect(s.step(11_000, [true, true])).toBeUndefined();
    expect(s.step(18_999, [true, true])).toBeUndefined();
    expect(s.step(19_000, [true, true])?.to).toBe(0);
  });

  it('with no usable uplink it stays where it is; hold-down 0 returns at once', () => {
    const s = new UplinkSelector(['primary', 'overflow'], 0);
    expect(s.step(0, [false, false])).toBeUndefined();
    expect(s.active).toBe(0);
    expect(s.step(1, [false, true])?.to).toBe(1);
    expect(s.step(2, [false, false])).toBeUndefined();
    expect(s.active).toBe(1);
    expect(s.step(3, [true, false])).toEqual({ from: 1, to: 0, why: 'failover' });
    s.step(4, [false, true]);
    expect(s.step(5, [true, true])).toEqual({ from: 1, to: 0, why: 'return' });
  });

  it('a better uplink than the active one (not the best) may take over; the primary wins later', () => {
    const s = new UplinkSelector(['primary', 'overflow', 'backup'], 100);
    s.step(0, [false, false, true]);
    expect(s.active).toBe(2);
    s.step(10, [false, true, true]);
    expect(s.step(110, [false, true, true])).toEqual({ from: 2, to: 1, why: 'return' });
    s.step(120, [true, true, true]);
    expect(s.step(220, [true, true, true])).toEqual({ from: 1, to: 0, why: 'return' });
  });
});

const YAML = `lan: {interface: lan0, addresses: [198.18.5.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, role: primary}
  - {name: lte, interface: lte0, address: 198.18.12.2/24, gateway: 198.18.12.1, role: overflow}
hag: {addresses: [198.18.100.1]}
failover: {holdDown: 5s}
`;

function uplinks() {
  const r = parseCpeConfig(YAML, 'cpe.yaml', { interfaceExists: (n) => n !== 'cpe0' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  const calls: PmAddress[] = [];
  const pm = { setAddress: (_now: number, a: PmAddress) => calls.push({ ...a }), addressOf: () => undefined };
  const ups = new Uplinks(r.value, pm as never, pino({ level: 'silent' }), () => []);
  // The uplinks' route commands are recorded, never run on this host.
  const commands: string[] = [];
  ups.netExec = (cmd) => {
    commands.push(cmd.argv.join(' '));
    return undefined;
  };
  let t = 0;
  ups.now = () => t;
  const switches: string[] = [];
  ups.on('switch', (from: Uplink, to: Uplink, why) => switches.push(`${from.name}->${to.name} ${why} @${t}`));
  return {
    ups,
    calls,
    commands,
    switches,
    at: (ms: number) => {
      t = ms;
    },
  };
}

describe('Uplinks: states, reasons and the switch of non-TCP traffic', () => {
  it('DSL down moves it to LTE at once; DSL up moves it back after the hold-down (on the tick)', () => {
    const { ups, commands, switches, at } = uplinks();
    const [dsl, lte] = ups.list;
    ups.setHealth(dsl, 'up', 'echo-replies', '2 consecutive echo replies');
    ups.setHealth(lte, 'up', 'echo-replies', '2 consecutive echo replies');
    // An uplink that comes up gets its default route back, through the command seam.
    expect(commands).toEqual([
      `ip route replace default via 198.18.11.1 dev dsl0 table ${dsl.table}`,
      `ip route replace default via 198.18.12.1 dev lte0 table ${lte.table}`,
    ]);
    expect(ups.active).toBe(dsl);
    expect(ups.directSource(4)).toEqual({ uplink: dsl, address: '198.18.11.2' });
    at(1000);
    ups.setHealth(dsl, 'down', 'echo-lost', '3 consecutive failures, last: no echo reply within 300 ms');
    expect(switches).toEqual(['dsl->lte failover @1000']);
    expect(ups.directSource(4)).toEqual({ uplink: lte, address: '198.18.12.2' });
    expect([dsl.state, dsl.reason]).toEqual(['down', 'echo-lost']);
    at(2000);
    ups.setHealth(dsl, 'up', 'echo-replies', '2 consecutive echo replies');
    at(6999);
    ups.tick();
    expect(ups.active).toBe(lte);
    at(7000);
    ups.tick();
    expect(switches).toEqual(['dsl->lte failover @1000', 'lte->dsl return @7000']);
    expect(ups.switches).toBe(2);
  });

  it('a line whose probes answer but over which the HAG does not is direct-only: no subflows, still direct', () => {
    const { ups, calls, switches } = uplinks();
    const [dsl, lte] = ups.list;
    ups.setHealth(dsl, 'up', 'echo-replies', 'ok');
    // What HagReach says after its failures (the daemon's check is a TCP connection to the HAG).
    lte.hag = new HagReach(
      async () => 'timeout',
      1000,
      1,
      () => {},
    );
    lte.hag.reachable = false;
    ups.setHealth(lte, 'up', 'echo-replies', 'ok');
    expect([lte.state, lte.reason, lte.usable, lte.usableDirect]).toEqual([
      'direct-only',
      'hag-unreachable',
      false,
      true,
    ]);
    expect(calls.at(-1)).toMatchObject({ id: 2, up: false }); // the path manager: no subflows on it
    ups.setHealth(dsl, 'down', 'loss-high', '60% of the last 10 echoes lost');
    expect(switches).toEqual(['dsl->lte failover @0']); // direct traffic still may use it
    expect([dsl.state, dsl.reason]).toEqual(['down', 'loss-high']);
  });
});

describe('HagReach', () => {
  it('unreachable after N failed checks in a row, reachable at the first answer; no address: no verdict', async () => {
    vi.useFakeTimers();
    try {
      const answers: (true | string | undefined)[] = [undefined, true, 'reset', true, 'timeout', 'timeout'];
      const reports: string[] = [];
      const r = new HagReach(
        async () => answers.shift() ?? 'timeout',
        1000,
        2,
        (ok, why) => reports.push(`${ok} ${why}`),
      );
      r.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(r.reachable).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1000);
      expect(reports).toEqual(['true the HAG answered']);
      await vi.advanceTimersByTimeAsync(2000); // one failure, then an answer: no change
      expect(reports).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(2000);
      expect(reports).toEqual(['true the HAG answered', 'false 2 checks failed, last: timeout']);
      expect(r.reachable).toBe(false);
      r.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('HagReach with traffic', () => {
  it('bytes from the HAG over the uplink since the last round count as an answer: no connection', async () => {
    vi.useFakeTimers();
    try {
      let bytes = 0;
      let checks = 0;
      const r = new HagReach(
        async () => {
          checks++;
          return 'timeout';
        },
        1000,
        2,
        () => {},
        () => bytes,
      );
      r.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(checks).toBe(1); // nothing seen yet: the first round asks
      for (let i = 0; i < 5; i++) {
        bytes += 1000;
        await vi.advanceTimersByTimeAsync(1000);
      }
      expect(checks).toBe(1);
      expect(r.reachable).toBe(true);
      await vi.advanceTimersByTimeAsync(2000); // idle: it asks again, and fails twice
      expect(checks).toBe(3);
      expect(r.reachable).toBe(false);
      r.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('HagReach and the probe', () => {
  it('a line the probe calls down forgets that the HAG did not answer over it: usable again once up', () => {
    const { ups } = uplinks();
    const lte = ups.list[1];
    const reach = new HagReach(
      async () => 'timeout',
      1000,
      1,
      () => {},
    );
    reach.reachable = false;
    lte.hag = reach;
    ups.setHealth(lte, 'up', 'echo-replies', 'ok');
    expect(lte.state).toBe('direct-only');
    ups.setHealth(lte, 'down', 'echo-lost', 'x');
    ups.setHealth(lte, 'up', 'echo-replies', 'ok');
    expect([lte.state, lte.usable]).toEqual(['up', true]);
  });
});

describe('reload', () => {
  it('a reloaded failover.holdDown applies to the next return', () => {
    const { ups, switches, at } = uplinks();
    const [dsl, lte] = ups.list;
    ups.setHealth(lte, 'up', 'echo-replies', 'ok');
    ups.setHealth(dsl, 'down', 'echo-lost', 'x');
    const r = parseCpeConfig(YAML.replace('holdDown: 5s', 'holdDown: 1s'), 'cpe.yaml', {
      interfaceExists: (n) => n !== 'cpe0',
    });
    if (!r.ok) throw new Error('bad config');
    ups.reconfigure(r.value);
    at(100);
    ups.setHealth(dsl, 'up', 'echo-replies', 'ok');
    at(1100);
    ups.tick();
    expect(switches).toEqual(['dsl->lte failover @0', 'lte->dsl return @1100']);
  });
});
