// The systemd units (hag/deploy, cpe/deploy) run the daemons without root: `systemd-analyze
// security --offline=yes` rates each at most 3.0, and the HAG and the CPE really run with what
// their units give them. This machine's systemd is not PID 1 (no systemd-run), so the test applies the unit's
// settings itself, read from the unit file: a user that is not root (DynamicUser), only the
// ambient and bounding capabilities listed, no_new_privs and LimitNOFILE (setpriv, prlimit), in
// network namespaces of its own. The rest of the sandbox is checked on a strace of the daemon and
// every `ip` it runs: each system call is in SystemCallFilter=, each socket's family in
// RestrictAddressFamilies=, each device it opens allowed by DevicePolicy=closed and DeviceAllow=,
// and each file it opens for writing a device or in ReadWritePaths= (ProtectSystem=strict,
// ProtectKernelTunables=). The HAG must create its TUN, set its routes and the forwarding
// sysctl, relay a SOCKS5 download, log a refusal, drain on SIGTERM and remove its TUN; the CPE
// its TUN, nftables table, a DHCP lease on its uplink, the LAN's DHCP and a direct download. The
// log lines carry level names and, by default, no per-connection lines; with stdout the
// JOURNAL_STREAM (as systemd sets it) each line starts with its "<N>" priority.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';

const ROOT = join(import.meta.dirname, '../..');
const ADDON_BUILT = join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node');
/** The addon as the daemons load it here: a copy in the test's folder (see beforeAll). */
let ADDON = '';
const UNITS = ['hag/deploy/hybrid-access-hag.service', 'cpe/deploy/hybrid-access-cpe.service'];
/** A uid from systemd's DynamicUser= range (61184-65519) that no one on this host uses. */
const DYNAMIC_UID = 61234;
/** What DevicePolicy=closed always lets a service open (systemd.resource-control(5)). */
const PSEUDO_DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom'];

/** The [Service] settings of a unit file: each key with its values in order (keys may repeat). */
function unitSettings(file: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const raw of readFileSync(join(ROOT, file), 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    m.set(key, [...(m.get(key) ?? []), line.slice(eq + 1)]);
  }
  return m;
}

function words(s: Map<string, string[]>, key: string): string[] {
  return (s.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);
}

/** The system calls systemd allows for the unit's SystemCallFilter= lines (allow list, then ~ removals). */
function allowedSyscalls(filters: string[]): Set<string> {
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  const listing = execFileSync('systemd-analyze', ['syscall-filter', '--no-pager'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  for (const line of listing.split('\n')) {
    const t = line.trim();
    if (/^@\S+$/.test(line)) {
      current = [];
      groups.set(line, current);
    } else if (t && !t.startsWith('#') && current) current.push(t);
  }
  const expand = (name: string, into: Set<string>): Set<string> => {
    const members = groups.get(name);
    if (!members) into.add(name);
    else for (const m of members) expand(m, into);
    return into;
  };
  const allowed = new Set<string>();
  for (const f of filters) {
    const deny = f.startsWith('~');
    for (const name of (deny ? f.slice(1) : f).split(/\s+/)) {
      for (const call of expand(name, new Set())) {
        if (deny) allowed.delete(call);
        else allowed.add(call);
      }
    }
  }
  return allowed;
}

interface Trace {
  /** Each system call with the program that made it first ("/usr/sbin/ip: capset(...)"). */
  syscalls: Map<string, string>;
  families: Set<string>;
  devices: Set<string>;
  written: Set<string>;
}

/** What a strace -f log shows from the exec of `program` on (before it: strace, prlimit, setpriv). */
function readTrace(file: string, program: string): Trace {
  const t: Trace = { syscalls: new Map(), families: new Set(), devices: new Set(), written: new Set() };
  const programs = new Map<string, string>();
  let started = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!started) {
      started = line.includes(`execve("${program}"`) && / = 0$/.test(line);
      continue;
    }
    const call = /^(\d+) +([a-z0-9_]+)\((.*)$/.exec(line);
    if (!call) continue;
    const [, pid, name, args] = call;
    if (name === 'execve' && / = 0$/.test(line)) programs.set(pid, /^"([^"]+)"/.exec(args)?.[1] ?? '?');
    if (!t.syscalls.has(name)) t.syscalls.set(name, `${programs.get(pid) ?? 'node'}: ${line}`);
    if (name === 'socket') t.families.add(/^(AF_[A-Z0-9]+)/.exec(args)?.[1] ?? args);
    const open = /^(?:AT_FDCWD, )?"([^"]+)", ([A-Z_|]+)/.exec(args);
    if ((name === 'openat' || name === 'open') && open && !/= -1 /.test(line)) {
      if (open[1].startsWith('/dev/')) t.devices.add(open[1]);
      else if (/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(open[2])) t.written.add(open[1]);
    }
  }
  if (!started) throw new Error(`no successful exec of ${program} in ${file}`);
  return t;
}

let work: string;
let dist: string;
const nets: Netns[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'systemd-units-'));
  chmodSync(work, 0o755);
  dist = join(work, 'dist');
  try {
    execFileSync('npx', ['tsc', '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', dist], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  } catch (e) {
    // tsc writes its output despite type errors (someone else's files mid-change); a run that
    // wrote nothing is a failure.
    const out = String((e as { stdout?: Buffer }).stdout ?? '');
    if (!out.includes('error TS') || !existsSync(join(dist, 'src/cli.js')))
      throw new Error(`tsc failed:\n${out}`);
    process.stderr.write(`tsc reported errors (ignored here):\n${out}`);
  }
  // The daemons run as a user that may not read the checkout (CI clones into a mktemp directory,
  // mode 0700: 'Cannot find package yaml'): what they load is copied into this world-readable
  // folder, the run-time packages as the one-file build takes them.
  const deps = execFileSync(
    process.execPath,
    [join(ROOT, 'scripts/lib/runtime-deps.mjs'), ROOT, 'pino', 'yaml'],
    {
      encoding: 'utf8',
    },
  );
  for (const d of deps.trim().split('\n')) cpSync(join(ROOT, d), join(dist, d), { recursive: true });
  ADDON = join(work, 'tun_tap.node');
  copyFileSync(ADDON_BUILT, ADDON);
}, 240_000);

afterAll(() => {
  for (const n of nets) n.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

function capsOf(unit: Map<string, string[]>, key: string): string[] {
  return words(unit, key).map((c) => c.replace(/^CAP_/, '').toLowerCase());
}

/**
 * Starts `hybrid-access <args>` in namespace `nsName` as the unit would: the unit's user (a
 * DynamicUser uid), ambient and bounding capabilities, no_new_privs and LimitNOFILE, traced.
 */
function startAsUnit(ns: Netns, nsName: string, unit: Map<string, string[]>, trace: string, args: string[]) {
  expect(unit.get('DynamicUser')).toEqual(['yes']);
  expect(unit.get('NoNewPrivileges')).toEqual(['yes']);
  const caps = capsOf(unit, 'AmbientCapabilities').map((c) => `+${c}`);
  const bounding = capsOf(unit, 'CapabilityBoundingSet').map((c) => `+${c}`);
  // LimitNOFILE=, or this test's own hard limit where that is lower (a container's).
  const hard = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }));
  const nofile = Math.min(Number(unit.get('LimitNOFILE')?.[0] ?? 1024), hard);
  const tun = join(work, `tun-${nsName}`);
  return ns.spawn(
    nsName,
    [
      // systemd-udev makes /dev/net/tun 0666 (50-udev-default.rules); a container's may be 0600.
      // The same node with udev's mode, seen only in this command's mount namespace (ip netns
      // exec gives each command its own, not propagated to the host).
      'sh',
      '-c',
      `mknod -m 0666 ${tun} c 10 200 && mount --bind ${tun} /dev/net/tun && exec "$@"`,
      'sh',
      'strace',
      '-f',
      '-qq',
      '-s',
      '256',
      '-o',
      trace,
      '--',
      'prlimit',
      `--nofile=${nofile}:${nofile}`,
      '--',
      'setpriv',
      `--reuid=${DYNAMIC_UID}`,
      `--regid=${DYNAMIC_UID}`,
      '--clear-groups',
      `--inh-caps=-all,${caps.join(',')}`,
      `--ambient-caps=-all,${caps.join(',')}`,
      `--bounding-set=-all,${bounding.join(',')}`,
      '--no-new-privs',
      '--',
      process.execPath,
      join(dist, 'src/cli.js'),
      ...args,
    ],
    {
      env: {
        PATH: `${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`,
        HYBRID_ACCESS_TUN_ADDON: ADDON,
      },
    },
  );
}

async function waitStarted(l: Lines): Promise<void> {
  const started = () => l.seen.some((x) => x.event === 'start' || x.event === 'start-failed');
  await waitFor('the daemon to start or exit', () => started() || l.exited !== null, 30_000);
  expect(l.seen.at(-1)?.event, JSON.stringify(l.seen) + l.stderr.join('\n')).toBe('start');
}

/** The daemon (the traced process: strace's child) is not root and holds exactly the unit's capabilities. */
function checkIdentity(stracePid: number, unit: Map<string, string[]>): number {
  const pid = Number(readFileSync(`/proc/${stracePid}/task/${stracePid}/children`, 'utf8').trim());
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(DYNAMIC_UID));
  expect(/^NoNewPrivs:\s+(\d)/m.exec(status)?.[1]).toBe('1');
  const bits: Record<string, number> = { net_bind_service: 10, net_admin: 12, net_raw: 13 };
  const mask = (names: string[]) => names.reduce((m, n) => m | (1n << BigInt(bits[n] ?? 63)), 0n);
  expect(BigInt(`0x${/^CapEff:\s+(\S+)/m.exec(status)?.[1]}`)).toBe(
    mask(capsOf(unit, 'AmbientCapabilities')),
  );
  expect(BigInt(`0x${/^CapBnd:\s+(\S+)/m.exec(status)?.[1]}`)).toBe(
    mask(capsOf(unit, 'CapabilityBoundingSet')),
  );
  return pid;
}

/** The daemon's and its children's system calls, sockets, devices and written files against the unit. */
function checkTrace(unit: Map<string, string[]>, trace: string, stateDir?: string): Trace {
  const t = readTrace(trace, process.execPath);
  expect(t.syscalls.has('ioctl') && t.syscalls.has('socket')).toBe(true);
  const allowed = allowedSyscalls(unit.get('SystemCallFilter') ?? []);
  expect([...t.syscalls].filter(([c]) => !allowed.has(c)).map(([, first]) => first)).toEqual([]);
  const families = words(unit, 'RestrictAddressFamilies');
  expect([...t.families].filter((f) => !families.includes(f))).toEqual([]);
  const devices = [...PSEUDO_DEVICES, ...(unit.get('DeviceAllow') ?? []).map((d) => d.split(/\s+/)[0])];
  expect([...t.devices].filter((d) => !devices.includes(d))).toEqual([]);
  expect(t.devices).toContain('/dev/net/tun');
  // ProtectSystem=strict and ProtectKernelTunables=: only ReadWritePaths= (and StateDirectory=).
  const writable = words(unit, 'ReadWritePaths').map((p) => p.replace(/^-/, ''));
  if (stateDir) writable.push(stateDir);
  expect([...t.written].filter((p) => !writable.some((w) => p === w || p.startsWith(`${w}/`)))).toEqual([]);
  expect(t.written).toContain('/proc/sys/net/ipv4/ip_forward');
  return t;
}

function checkLogLevels(l: Lines): void {
  for (const x of l.seen) expect(['debug', 'info', 'warn', 'error', 'fatal']).toContain(x.level);
  // log.connections is off: no line per connection.
  const events = l.seen.map((x) => x.event);
  for (const e of ['open', 'connected', 'close']) expect(events).not.toContain(e);
}

describe('systemd units', () => {
  for (const unit of UNITS) {
    it(`${unit}: systemd-analyze security --offline=yes rates it at most 3.0`, () => {
      const r = spawnSync(
        'systemd-analyze',
        ['security', '--offline=yes', '--threshold=30', '--no-pager', join(ROOT, unit)],
        { encoding: 'utf8' },
      );
      const level = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout)?.[1];
      expect(level, r.stdout + r.stderr).toBeDefined();
      expect(Number(level), r.stdout).toBeLessThanOrEqual(3.0);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      // Every line of the unit is one systemd 252 knows.
      expect(r.stderr).not.toMatch(/Unknown|Failed to parse|Invalid|ignoring/i);
    });
  }

  it('runs the HAG as its unit would: not root, only the unit capabilities, system calls and files', async () => {
    const unit = unitSettings(UNITS[0]);
    const ns = new Netns('sdh');
    nets.push(ns);
    const data = randomBytes(2_000_000);
    writeFileSync(join(work, 'blob'), data);
    ns.add('c');
    ns.add('h');
    ns.veth('c', 'c0', 'h', 'h0');
    ns.sh('c', 'ip addr add 198.18.11.2/24 dev c0 && ip route add default via 198.18.11.1');
    // Forwarding stays off: the HAG, not root, must turn it on.
    ns.sh('h', 'ip addr add 198.18.11.1/24 dev h0 && sysctl -qw net.ipv4.ip_forward=0');
    ns.spawn('c', ['python3', '-m', 'http.server', '8000', '--bind', '198.18.11.2', '--directory', work]);
    ns.sh(
      'c',
      'for i in $(seq 100); do curl -s -o /dev/null http://198.18.11.2:8000/ && exit 0; sleep 0.1; done; exit 1',
    );
    const config = join(work, 'hag.yaml');
    writeFileSync(
      config,
      [
        'tun: {name: hagu0}',
        'service: {addresses: [198.18.110.1], socks: {port: 1080}}',
        'access: {subscribers: [198.18.11.0/24], allowDestinations: [198.18.11.2/32]}',
        'limits: {drainTimeout: 1s}',
        '',
      ].join('\n'),
    );
    chmodSync(config, 0o644);
    const trace = join(work, 'strace-hag.log');
    const proc = startAsUnit(ns, 'h', unit, trace, ['hag', '--config', config]);
    const hag = lines(proc);
    await waitStarted(hag);
    const daemonPid = checkIdentity(proc.pid!, unit);

    // What it did as that user: the TUN, its route, forwarding on; then a SOCKS5 download.
    expect(ns.sh('h', 'sysctl -n net.ipv4.ip_forward').trim()).toBe('1');
    expect(ns.sh('h', 'ip route show 198.18.110.1')).toMatch(/dev hagu0/);
    ns.sh(
      'c',
      `curl -sS --max-time 30 --socks5 198.18.110.1:1080 http://198.18.11.2:8000/blob -o ${work}/got`,
    );
    expect(
      createHash('sha256')
        .update(readFileSync(join(work, 'got')))
        .digest('hex'),
    ).toBe(createHash('sha256').update(data).digest('hex'));
    // A refused destination is logged (at info or warn) whatever log.connections says.
    spawnSync('ip', [
      ...['netns', 'exec', ns.name('c'), 'curl', '-s', '--max-time', '5'],
      ...['--socks5', '198.18.110.1:1080', 'http://198.18.11.3:8000/'],
    ]);
    const refused = await once(hag, (l) => l.event === 'refused', 10_000);
    expect(refused).toMatchObject({ reason: 'forbidden-destination' });
    expect(refused.level).toMatch(/^(info|warn)$/);

    process.kill(daemonPid, 'SIGTERM');
    await once(hag, (l) => l.event === 'stopped', 15_000);
    await waitFor('the HAG and strace to exit', () => hag.exited !== null, 15_000);
    expect(hag.exited).toBe(0);
    expect(ns.sh('h', 'ip -o link show')).not.toMatch(/hagu0/);
    checkLogLevels(hag);
    checkTrace(unit, trace);
  }, 120_000);

  it('runs the CPE as its unit would: TUN, nftables, raw-socket line checks, DHCP on port 67, transparent interception', async () => {
    const unit = unitSettings(UNITS[1]);
    const ns = new Netns('sdc');
    nets.push(ns);
    const data = randomBytes(2_000_000);
    writeFileSync(join(work, 'blob2'), data);
    for (const n of ['lan', 'cpe', 'net']) ns.add(n);
    ns.veth('lan', 'eth0', 'cpe', 'lan0');
    ns.veth('cpe', 'dsl0', 'net', 'd0');
    ns.sh('cpe', 'sysctl -qw net.ipv4.ip_forward=0');
    ns.sh('net', 'ip addr add 198.18.22.1/24 dev d0');
    // The uplink takes its address by DHCP: the CPE's client (raw socket, AF_PACKET broadcast).
    ns.spawn('net', [
      ...['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=d0'],
      ...[
        '--bind-interfaces',
        '--dhcp-authoritative',
        '--user=root',
        `--pid-file=${join(work, 'dnsmasq.pid')}`,
      ],
      `--dhcp-leasefile=${join(work, 'dnsmasq.leases')}`,
      '--dhcp-range=198.18.22.50,198.18.22.60,255.255.255.0,600',
      '--dhcp-option=option:router,198.18.22.1',
    ]);
    ns.spawn('net', ['python3', '-m', 'http.server', '8000', '--bind', '198.18.22.1', '--directory', work]);
    ns.sh(
      'net',
      'for i in $(seq 100); do curl -s -o /dev/null http://198.18.22.1:8000/ && exit 0; sleep 0.1; done; exit 1',
    );
    // StateDirectory=: a directory of the service's user (systemd makes /var/lib/hybrid-access).
    const state = join(work, 'state');
    mkdirSync(state);
    chownSync(state, DYNAMIC_UID, DYNAMIC_UID);
    const suffix = `_u${ns.prefix.slice(3)}`;
    const config = join(work, 'cpe.yaml');
    writeFileSync(
      config,
      `lan:
  interface: lan0
  addresses: [198.18.21.1/24]
  dhcp: {ranges: [{start: 198.18.21.100, end: 198.18.21.110}], leaseFile: ${state}/dhcp-leases.json}
uplinks:
  - {name: dsl, interface: dsl0, addressing: dhcp, role: primary,
     probe: {target: 198.18.22.1, interval: 300ms, timeout: 300ms}}
hag: {addresses: [198.18.120.1], connectTimeout: 1s, retryAfter: 1s}
tun: {name: cpeu0, prefix: 198.18.220.0/24}
intercept: {port: 7072, suffix: ${suffix}}
status: {port: 8082}
drainTimeout: 1s
`,
    );
    chmodSync(config, 0o644);
    const trace = join(work, 'strace-cpe.log');
    const proc = startAsUnit(ns, 'cpe', unit, trace, ['cpe', '--config', config]);
    const cpe = lines(proc);
    await waitStarted(cpe);
    const daemonPid = checkIdentity(proc.pid!, unit);
    // The uplink's lease, the line check (raw ICMP) finds it up; the LAN host gets a lease from port 67.
    await once(cpe, (l) => l.event === 'uplink-lease', 20_000);
    await once(cpe, (l) => l.event === 'uplink-up', 10_000);
    ns.sh('lan', 'udhcpc -f -q -n -t 5 -T 1 -i eth0 -s /bin/true', 30_000);
    await waitFor('the lease file', () =>
      readFileSync(join(state, 'dhcp-leases.json'), 'utf8').includes('198.18.21.1'),
    );
    ns.sh('lan', 'ip addr add 198.18.21.2/24 dev eth0 && ip route add default via 198.18.21.1');
    // No HAG answers: the connection is intercepted (IP_TRANSPARENT) and goes direct via DSL.
    ns.sh('lan', `curl -sS --max-time 30 http://198.18.22.1:8000/blob2 -o ${work}/got2`, 60_000);
    expect(
      createHash('sha256')
        .update(readFileSync(join(work, 'got2')))
        .digest('hex'),
    ).toBe(createHash('sha256').update(data).digest('hex'));
    expect(ns.sh('cpe', 'nft list tables')).toContain(`hybrid_access${suffix}`);
    expect(ns.sh('cpe', 'sysctl -n net.ipv4.ip_forward').trim()).toBe('1');

    process.kill(daemonPid, 'SIGTERM');
    await waitFor('the CPE and strace to exit', () => cpe.exited !== null, 20_000);
    expect(cpe.exited, cpe.stderr.join('\n')).toBe(0);
    expect(ns.sh('cpe', 'nft list tables')).not.toContain('hybrid_access');
    expect(ns.sh('cpe', 'ip -o link show')).not.toMatch(/cpeu0/);
    checkLogLevels(cpe);
    const t = checkTrace(unit, trace, state);
    expect(t.families).toContain('AF_PACKET');
  }, 120_000);

  it('under journald (stdout is the JOURNAL_STREAM) each log line starts with its syslog priority', async () => {
    const ns = new Netns('sdj');
    nets.push(ns);
    ns.add('j');
    const config = join(work, 'hag-journal.yaml');
    writeFileSync(
      config,
      'tun: {name: hagj0}\nservice: {addresses: [198.18.111.1], socks: {port: 1080}}\naccess: {subscribers: [198.18.12.0/24]}\nlimits: {drainTimeout: 1s}\n',
    );
    // systemd sets JOURNAL_STREAM to the device and inode of the stream it gives the service.
    const p = ns.spawn(
      'j',
      [
        'sh',
        '-c',
        'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1) exec "$@"',
        'sh',
        process.execPath,
        join(dist, 'src/cli.js'),
        'hag',
        '--config',
        config,
      ],
      { env: { ...process.env, HYBRID_ACCESS_TUN_ADDON: ADDON } },
    );
    let out = '';
    let err = '';
    p.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
    });
    p.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
    });
    await waitFor('the start line', () => out.includes('"event":"start"') || p.exitCode !== null, 30_000);
    expect(out, err).toContain('"event":"start"');
    p.kill('SIGTERM');
    await waitFor('the stopped line', () => out.includes('"event":"stopped"'), 15_000);
    const lines = out.trim().split('\n');
    for (const line of lines) {
      const m = /^<([0-7])>(\{.*\})$/.exec(line);
      expect(m, line).not.toBeNull();
      const level = JSON.parse(m![2]).level;
      expect(m![1]).toBe(String({ debug: 7, info: 6, warn: 4, error: 3, fatal: 2 }[level as string]));
    }
    expect(lines.some((l) => l.startsWith('<6>') && l.includes('"event":"start"'))).toBe(true);
  }, 60_000);
});
