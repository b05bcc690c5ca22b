// System test of the lab (scripts/lab-impl, scripts/lab), as root: brings the six namespaces up
// under a prefix unique to this run with the default profile, and checks that the CPE reaches the
// server over DSL and over LTE (bound to each uplink address) with the profile's RTT and rate, that
// link faults and loss bursts take effect, that the CLI works, and that labDown removes every
// namespace, interface and process. Also checks the profile parser's error messages.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DelayLine, type DelayLineOptions } from '../../scripts/lab-impl/delay-line.js';
import {
  ADDR,
  ADDR6,
  alive,
  control,
  existingNamespaces,
  type LabState,
  labDown,
  labFault,
  labLossBurst,
  labStatus,
  labUp,
  NAMESPACES,
  nsName,
  REPO_ROOT,
  readState,
  runDir,
} from '../../scripts/lab-impl/lab.js';
import { loadProfile, parseProfiles } from '../../scripts/lab-impl/profiles.js';
import { requireRoot } from './lib/netns.js';

const run = promisify(execFile);
const PROFILES = join(REPO_ROOT, 'config', 'lab', 'profiles.yaml');

/** Runs a command in a lab namespace; resolves with stdout, or with the failure (exit code) when it fails. */
async function inNs(
  prefix: string,
  ns: string,
  argv: string[],
  timeoutMs = 30_000,
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const r = await run('ip', ['netns', 'exec', `${prefix}-${ns}`, ...argv], { timeout: timeoutMs });
    return { ok: true, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** ping from the CPE bound to one uplink address; the average RTT in ms and the packets received. */
async function ping(prefix: string, from: string, count: number, intervalS = 0.1) {
  const to = from.includes(':') ? ADDR6.server.hag : ADDR.server.hag;
  const r = await inNs(prefix, 'cpe', [
    'ping',
    '-q',
    '-n',
    '-c',
    String(count),
    '-i',
    String(intervalS),
    '-W',
    '1',
    '-I',
    from,
    to,
  ]);
  const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
  const m = /= ([\d.]+)\/([\d.]+)\//.exec(r.stdout);
  const min = Number(m?.[1] ?? Number.NaN);
  const avg = Number(m?.[2] ?? Number.NaN);
  return { received, min, avg, output: r.stdout + r.stderr };
}

/**
 * A TCP transfer with iperf3 from the CPE bound to `from` (upload, or download with `reverse`); the
 * receiver's rate in bit/s, leaving out the first second (start-up). Congestion control: bbr.
 */
async function iperf(prefix: string, from: string, port: number, reverse = false): Promise<number> {
  const server = spawn(
    'ip',
    ['netns', 'exec', `${prefix}-server`, 'iperf3', '-s', '-1', '-p', String(port)],
    {
      stdio: 'ignore',
    },
  );
  try {
    for (let i = 0; i < 50; i++) {
      const ss = await inNs(prefix, 'server', ['ss', '-Htln', `sport = :${port}`]);
      if (ss.stdout.includes(`:${port}`)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await inNs(prefix, 'cpe', [
      'iperf3',
      '-J',
      '-c',
      ADDR.server.hag,
      '-p',
      String(port),
      '-B',
      from,
      '-t',
      '5',
      '-O',
      '1',
      // Said explicitly: the namespaces may only use the host's allowed list (here reno and bbr).
      '-C',
      'bbr',
      ...(reverse ? ['-R'] : []),
    ]);
    const out = JSON.parse(r.stdout) as {
      end?: { sum_received?: { bits_per_second?: number } };
      error?: string;
    };
    if (out.end?.sum_received?.bits_per_second === undefined) {
      throw new Error(`iperf3 from ${from} failed: ${out.error ?? r.stderr}`);
    }
    return out.end.sum_received.bits_per_second;
  } finally {
    server.kill('SIGKILL');
  }
}

describe('lab', () => {
  const prefix = `lt${randomBytes(3).toString('hex')}`;
  let state: LabState;

  beforeAll(async () => {
    requireRoot();
    state = await labUp('default', prefix);
  });

  afterAll(() => {
    labDown(prefix);
  });

  it('creates the six namespaces and starts a delay line per access link', async () => {
    expect(existingNamespaces(prefix).sort()).toEqual(NAMESPACES.map((n) => nsName(prefix, n)).sort());
    const status = await labStatus(prefix);
    expect(status.profile?.name).toBe('default');
    for (const link of ['dsl', 'lte'] as const) {
      expect(status.links[link].up).toBe(true);
      expect(typeof status.links[link].delayLine).toBe('object');
    }
  });

  it('reaches the server from the CPE over each path with the profile RTT, and from the client', async () => {
    const dslDelay = state.profile.links.dsl.up.delayMs + state.profile.links.dsl.down.delayMs;
    const lteDelay = state.profile.links.lte.up.delayMs + state.profile.links.lte.down.delayMs;
    // Warm-up: the first packets meet cold code in the fresh delay-line processes.
    await Promise.all([ping(prefix, ADDR.cpe.dsl, 5, 0.05), ping(prefix, ADDR.cpe.lte, 5, 0.05)]);
    const [dsl, lte, client] = await Promise.all([
      ping(prefix, ADDR.cpe.dsl, 20),
      ping(prefix, ADDR.cpe.lte, 20),
      inNs(prefix, 'client', ['ping', '-q', '-n', '-c', '2', '-i', '0.2', '-W', '2', ADDR.server.hag]),
    ]);
    console.log(
      `RTT over dsl ${dsl.avg} ms (profile ${dslDelay}), over lte ${lte.avg} ms (profile ${lteDelay})`,
    );
    expect(dsl.received, dsl.output).toBe(20);
    expect(lte.received, lte.output).toBe(20);
    expect(client.ok, client.stdout + client.stderr).toBe(true);
    // The fastest echo within -1/+3 ms of twice the one-way delay (the path itself adds a few
    // tenths of a ms); the average within +10 ms: on a 2-core host busy with other tests (the e2e
    // test's daemons beside this one) the delay lines sometimes wake late, 63.5 ms seen for 60.
    expect(dsl.min).toBeGreaterThan(dslDelay - 1);
    expect(dsl.min).toBeLessThan(dslDelay + 3);
    expect(lte.min).toBeGreaterThan(lteDelay - 1);
    expect(lte.min).toBeLessThan(lteDelay + 3);
    expect(dsl.avg).toBeLessThan(dslDelay + 10);
    expect(lte.avg).toBeLessThan(lteDelay + 10);
  });

  it('does the same over IPv6', async () => {
    const dslDelay = state.profile.links.dsl.up.delayMs + state.profile.links.dsl.down.delayMs;
    const lteDelay = state.profile.links.lte.up.delayMs + state.profile.links.lte.down.delayMs;
    const [dsl, lte, client] = await Promise.all([
      ping(prefix, ADDR6.cpe.dsl, 20),
      ping(prefix, ADDR6.cpe.lte, 20),
      inNs(prefix, 'client', ['ping', '-q', '-n', '-c', '2', '-i', '0.2', '-W', '2', ADDR6.server.hag]),
    ]);
    console.log(`IPv6 RTT over dsl ${dsl.avg} ms, over lte ${lte.avg} ms`);
    expect(dsl.received, dsl.output).toBe(20);
    expect(lte.received, lte.output).toBe(20);
    expect(client.ok, client.stdout + client.stderr).toBe(true);
    // As over IPv4 (above): 20 echoes, the fastest within -1/+3 ms. CI failed with 10 echoes and
    // a fastest of 23.2 ms for 20 on a host at load 12-16: the delay lines are processes that wake
    // late on a busy host; the fastest of 20 is what the path itself does.
    expect(dsl.min).toBeGreaterThan(dslDelay - 1);
    expect(dsl.min).toBeLessThan(dslDelay + 3);
    expect(lte.min).toBeGreaterThan(lteDelay - 1);
    expect(lte.min).toBeLessThan(lteDelay + 3);
    expect(dsl.avg).toBeLessThan(dslDelay + 10);
    expect(lte.avg).toBeLessThan(lteDelay + 10);
  });

  it('carries the LTE path through carrier-grade NAT (IPv4 and IPv6): the server sees the LTE namespace address', async () => {
    const r = await inNs(prefix, 'server', [
      'sh',
      '-c',
      `timeout 3 tcpdump -c 1 -n -i eth0 icmp 2>/dev/null & sleep 0.5; ip netns exec ${prefix}-cpe ping -c 1 -I ${ADDR.cpe.lte} ${ADDR.server.hag} >/dev/null; wait`,
    ]);
    expect(r.stdout).toContain(`${ADDR.lte.hag} > ${ADDR.server.hag}`);
    const r6 = await inNs(prefix, 'server', [
      'sh',
      '-c',
      `timeout 3 tcpdump -c 1 -n -i eth0 'icmp6 and ip6[40] == 128' 2>/dev/null & sleep 0.5; ip netns exec ${prefix}-cpe ping -c 1 -I ${ADDR6.cpe.lte} ${ADDR6.server.hag} >/dev/null; wait`,
    ]);
    expect(r6.stdout).toContain(`${ADDR6.lte.hag} > ${ADDR6.server.hag}`);
  });

  it('gets 85-100% of the configured rate over TCP on each path, both ways', async () => {
    const check = (what: string, got: number, rate: number) => {
      console.log(`TCP (bbr) ${what}: ${(got / 1e6).toFixed(2)} of ${rate / 1e6} Mbit/s`);
      expect(got / rate, what).toBeGreaterThanOrEqual(0.85);
      expect(got / rate, what).toBeLessThanOrEqual(1.0);
    };
    const { dsl, lte } = state.profile.links;
    const [dslUp, lteUp] = await Promise.all([
      iperf(prefix, ADDR.cpe.dsl, 5201),
      iperf(prefix, ADDR.cpe.lte, 5202),
    ]);
    check('upload over dsl', dslUp, dsl.up.rateBps);
    check('upload over lte', lteUp, lte.up.rateBps);
    const [dslDown, lteDown] = await Promise.all([
      iperf(prefix, ADDR.cpe.dsl, 5203, true),
      iperf(prefix, ADDR.cpe.lte, 5204, true),
    ]);
    check('download over dsl', dslDown, dsl.down.rateBps);
    check('download over lte', lteDown, lte.down.rateBps);
  });

  it('fault dsl down stops the DSL path (LTE goes on) and fault dsl up restores it', async () => {
    labFault(prefix, 'dsl', 'down');
    const [dsl, lte, dsl6] = await Promise.all([
      ping(prefix, ADDR.cpe.dsl, 3, 0.2),
      ping(prefix, ADDR.cpe.lte, 3, 0.2),
      ping(prefix, ADDR6.cpe.dsl, 3, 0.2),
    ]);
    expect(dsl.received).toBe(0);
    expect(dsl6.received).toBe(0);
    expect(lte.received).toBe(3);
    expect((await labStatus(prefix)).links.dsl.up).toBe(false);
    labFault(prefix, 'dsl', 'up');
    let back = 0;
    for (let i = 0; i < 10 && back === 0; i++) back = (await ping(prefix, ADDR.cpe.dsl, 1)).received;
    expect(back).toBe(1);
    expect((await ping(prefix, ADDR6.cpe.dsl, 1)).received).toBe(1);
  });

  it('a loss burst drops the link packets for its duration only', async () => {
    const before = (await control(state.delayLines.lte.socket, { cmd: 'stats' })) as {
      up: { dropped: number };
    };
    await labLossBurst(prefix, 'lte', 100, 1.5);
    const started = Date.now();
    const during = await ping(prefix, ADDR.cpe.lte, 3, 0.2);
    expect(during.received).toBe(0);
    const after = (await control(state.delayLines.lte.socket, { cmd: 'stats' })) as {
      up: { dropped: number };
    };
    expect(after.up.dropped - before.up.dropped).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, Math.max(0, 1600 - (Date.now() - started))));
    expect((await ping(prefix, ADDR.cpe.lte, 3, 0.2)).received).toBe(3);
  });

  it('scripts/lab runs commands in a lab namespace and reports the status', () => {
    const lab = join(REPO_ROOT, 'scripts', 'lab');
    const out = execFileSync(
      lab,
      ['exec', '--prefix', prefix, 'server', 'ip', '-o', '-4', 'addr', 'show', 'eth0'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    expect(out).toContain(ADDR.server.hag);
    const status = execFileSync(lab, ['status', '--prefix', prefix], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(status).toContain('profile default');
    expect(status).toMatch(/lte: up; delay line: up \d+\/\d+ sent/);
  });

  it('down removes every namespace, interface and process it created', () => {
    const pids = new Set(Object.values(readState(prefix)?.delayLines ?? {}).map((d) => d.pid));
    for (const ns of NAMESPACES) {
      for (const pid of execFileSync('ip', ['netns', 'pids', nsName(prefix, ns)], { encoding: 'utf8' }).split(
        /\s+/,
      )) {
        if (pid) pids.add(Number(pid));
      }
    }
    expect(pids.size).toBeGreaterThanOrEqual(2);
    labDown(prefix);
    expect(existingNamespaces(prefix)).toEqual([]);
    expect(existsSync(runDir(prefix))).toBe(false);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still runs`).toBe(false);
    // Nothing was ever created outside the lab namespaces: the host has no lab interfaces.
    expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).not.toMatch(/dly-(up|down)/);
  });
});

describe('lab, unshaped profile (the benchmark ceiling)', () => {
  const prefix = `lu${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    requireRoot();
    await labUp('unshaped', prefix);
  });

  afterAll(() => {
    labDown(prefix);
  });

  it('has no tbf and no delay-line rules; both paths (LTE through its NAT) carry TCP far above the shaped rates', async () => {
    for (const link of ['dsl', 'lte']) {
      const qd = await inNs(prefix, link, ['tc', 'qdisc', 'show']);
      expect(qd.stdout).not.toContain('tbf');
      const rules = await inNs(prefix, link, ['ip', 'rule', 'show']);
      expect(rules.stdout).not.toContain('lookup 100');
    }
    const dsl = await ping(prefix, ADDR.cpe.dsl, 5, 0.05);
    const lte = await ping(prefix, ADDR.cpe.lte, 5, 0.05);
    expect(dsl.received).toBe(5);
    expect(lte.received).toBe(5);
    expect(lte.avg).toBeLessThan(5);
    const bps = await iperf(prefix, ADDR.cpe.lte, 5302, true);
    expect(bps).toBeGreaterThan(200e6);
  });
});

describe('lab profiles', () => {
  it('has the default and rural profiles', () => {
    const d = loadProfile(PROFILES, 'default');
    expect(d.links.dsl.up).toEqual({ rateBps: 20e6, delayMs: 10, jitterMs: 0, lossPercent: 0 });
    expect(d.links.lte.down).toEqual({ rateBps: 40e6, delayMs: 30, jitterMs: 0, lossPercent: 0 });
    const r = loadProfile(PROFILES, 'rural');
    expect([r.links.dsl.up.rateBps, r.links.dsl.up.delayMs]).toEqual([4e6, 15]);
    expect([r.links.lte.up.rateBps, r.links.lte.up.delayMs]).toEqual([20e6, 35]);
  });

  it('has the mild, fast and lossy profiles as issues 19 and 21 measured them', () => {
    const link = (p: string, l: 'dsl' | 'lte') => {
      const x = loadProfile(PROFILES, p).links[l];
      return [x.down.rateBps, x.up.rateBps, x.up.delayMs, x.up.jitterMs, x.up.lossPercent];
    };
    expect(link('mild', 'dsl')).toEqual([20e6, 20e6, 10, 0, 0]);
    expect(link('mild', 'lte')).toEqual([40e6, 40e6, 30, 0, 0.2]);
    expect(link('fast', 'dsl')).toEqual([100e6, 100e6, 8, 0, 0]);
    expect(link('fast', 'lte')).toEqual([300e6, 300e6, 20, 0, 0]);
    expect(link('lossy', 'dsl')).toEqual([16e6, 2e6, 12, 0, 0]);
    expect(link('lossy', 'lte')).toEqual([30e6, 30e6, 40, 5, 1]);
  });

  it('has the transparent profile: the default links, the daemons in transparent mode', () => {
    const t = loadProfile(PROFILES, 'transparent');
    expect([t.transparent, loadProfile(PROFILES, 'default').transparent]).toEqual([true, false]);
    expect(t.links).toEqual(loadProfile(PROFILES, 'default').links);
    const bad =
      'profiles:\n  a:\n    transparent: yes\n    dsl: {rate: 2mbit, delay: 1ms}\n    lte: {rate: 1mbit, delay: 1ms}\n';
    expect(() => parseProfiles(bad, 'p.yaml')).toThrow(
      'p.yaml:3: profiles.a.transparent: expected true or false',
    );
  });

  it('reads asymmetric rates, jitter, loss and the seed', () => {
    const p = parseProfiles(
      'profiles:\n  x:\n    seed: 9\n    dsl: {rate: {down: 16mbit, up: 2mbit}, delay: 12ms}\n' +
        '    lte: {rate: 512kbit, delay: 0.5s, jitter: 5ms, loss: 1.5%, reorder: true}\n',
      'p.yaml',
    ).get('x')!;
    expect(p.seed).toBe(9);
    expect([p.links.dsl.down.rateBps, p.links.dsl.up.rateBps]).toEqual([16e6, 2e6]);
    expect(p.links.lte.up).toEqual({ rateBps: 512e3, delayMs: 500, jitterMs: 5, lossPercent: 1.5 });
    expect(p.links.lte.reorder).toBe(true);
  });

  it.each([
    [
      'profiles:\n  a:\n    dsl: {rate: 20mbit, delay: 10}\n    lte: {rate: 1mbit, delay: 1ms}\n',
      'p.yaml:3: profiles.a.dsl.delay: "10" has no unit',
    ],
    [
      'profiles:\n  a:\n    dsl: {rate: 20mbps, delay: 10ms}\n    lte: {rate: 1mbit, delay: 1ms}\n',
      'p.yaml:3: profiles.a.dsl.rate: unknown rate unit "mbps"',
    ],
    ['profiles:\n  a:\n    dsl: {rate: 20mbit, delay: 10ms}\n', 'p.yaml:3: profiles.a.lte: missing'],
    [
      'profiles:\n  a:\n    dsl: {rate: 2mbit, delay: 1ms}\n    lte:\n      rate: 1mbit\n      delay: 1ms\n      los: 1%\n',
      'p.yaml:7: profiles.a.lte.los: unknown key',
    ],
    [
      'profiles:\n  a:\n    dsl: {rate: 2mbit, delay: 1ms, loss: 120%}\n    lte: {rate: 1mbit, delay: 1ms}\n',
      'p.yaml:3: profiles.a.dsl.loss: 120% is more than 100%',
    ],
    ['profiles: [1, 2]\n', 'p.yaml:1: profiles: expected a mapping'],
    ['profiles:\n  a: {dsl: [\n', 'p.yaml:3: invalid YAML'],
  ])('rejects %j with a message naming file, line and problem', (text, message) => {
    expect(() => parseProfiles(text, 'p.yaml')).toThrow(message);
  });

  it('names the known profiles when asked for an unknown one', () => {
    expect(() => loadProfile(PROFILES, 'nope')).toThrow(/no profile "nope" \(known: default, rural/);
  });
});

describe('lab delay line', () => {
  /**
   * Pushes `count` numbered packets 0.2 ms apart on a virtual clock that steps 0.1 ms, flushing
   * the line at each step (the line's own timers never run: all of it is synchronous): the order
   * and the delays they came out with, in virtual time, so a busy host cannot change them.
   */
  function through(options: Omit<DelayLineOptions, 'emit' | 'now'>, count: number) {
    let t = 0;
    const out: { n: number; delay: number }[] = [];
    const sentAt: number[] = [];
    const line = new DelayLine({
      ...options,
      now: () => t,
      emit: (p) => out.push({ n: p.readUInt32BE(0), delay: t - sentAt[p.readUInt32BE(0)] }),
    });
    const end = count * 0.2 + options.delayMs + (options.jitterMs ?? 0) + 30;
    for (let step = 0, n = 0; step * 0.1 <= end; step++) {
      t = step * 0.1;
      if (step % 2 === 0 && n < count) {
        const p = Buffer.alloc(20);
        p.writeUInt32BE(n, 0);
        sentAt[n] = t;
        line.push(p);
        n++;
      }
      line.flush();
    }
    line.close();
    return { out, stats: line.stats };
  }

  it('holds each packet for its delay and keeps the order, also with jitter', () => {
    const { out } = through({ delayMs: 5, jitterMs: 3 }, 200);
    expect(out.map((o) => o.n)).toEqual([...Array(200).keys()]);
    // Never before its delay less the jitter (and the path's own latency and the line's slack of
    // 0.5 ms); at most the delay plus the jitter after it (in order: a packet may wait for the one
    // ahead of it), plus one clock step.
    for (const o of out) {
      expect(o.delay).toBeGreaterThanOrEqual(5 - 3 - 0.15 - 0.5);
      expect(o.delay).toBeLessThanOrEqual(5 + 3 + 0.1);
    }
    // The jitter is there: the delays spread over more than 2 ms.
    const delays = out.map((o) => o.delay);
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(2);
  });

  it('reorders with jitter only when allowed', () => {
    const { out } = through({ delayMs: 5, jitterMs: 3, reorder: true }, 200);
    expect(out).toHaveLength(200);
    expect(out.some((o, i) => i > 0 && o.n < out[i - 1].n)).toBe(true);
  });

  it('drops packets at random with a seeded PRNG: the same seed, the same losses', () => {
    const a = through({ delayMs: 1, lossPercent: 20, seed: 42 }, 500);
    const b = through({ delayMs: 1, lossPercent: 20, seed: 42 }, 500);
    expect(a.stats.dropped).toBeGreaterThan(70);
    expect(a.stats.dropped).toBeLessThan(130);
    expect(a.out.map((o) => o.n)).toEqual(b.out.map((o) => o.n));
  });

  it('drops everything during a 100% loss burst, and nothing after it', async () => {
    const line = new DelayLine({ delayMs: 1, emit: () => {} });
    line.burst(100, 0.05);
    for (let i = 0; i < 10; i++) line.push(Buffer.alloc(20));
    expect(line.stats.dropped).toBe(10);
    await new Promise((r) => setTimeout(r, 60));
    for (let i = 0; i < 10; i++) line.push(Buffer.alloc(20));
    expect(line.stats.dropped).toBe(10);
    line.close();
  });
});
