// What runs on top of the lab: (A) our product, the HAG daemon (config/lab/hag.yaml) in the HAG
// namespace and the CPE daemon (config/lab/cpe.yaml) in the CPE namespace, and (B) the kernel-MPTCP baseline (kernel-proxy.py on
// both ends, `ip mptcp` endpoints and limits, nftables TPROXY on the CPE). Each start returns
// handles whose stop() undoes it; CPU seconds come from /proc/<pid>/stat. Used by scripts/demo,
// scripts/bench-lab and test/system/e2e-lab.test.ts, which all give the lab's prefix.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseDocument } from 'yaml';
import {
  ADDR,
  HAG_HOSTS,
  HAG_SERVICE_ADDRESSES,
  LabError,
  nsName,
  REPO_ROOT,
  readState,
  runDir,
} from './lab.js';
import type { LabProfile } from './profiles.js';

/** The HAG's service address (routed into its TUN) and the kernel baseline's relay address. */
export const HAG_SERVICE = HAG_SERVICE_ADDRESSES[0];
export const HAG_SERVICE6 = HAG_SERVICE_ADDRESSES[1];
export const KERNEL_RELAY = '198.18.101.1';
export const KERNEL_RELAY_PORT = 7000;
/** The kernel baseline's transparent relay on the CPE. */
export const TPROXY_PORT = 7001;
const TCK = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in these.

/** A daemon started in a lab namespace: its JSON (or text) output lines and its CPU use. */
export class Daemon {
  readonly lines: Record<string, unknown>[] = [];
  readonly text: string[] = [];
  exited: number | null = null;
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const s of [child.stdout, child.stderr]) {
      if (!s) continue;
      createInterface({ input: s }).on('line', (l) => {
        this.text.push(l);
        if (this.text.length > 2000) this.text.shift();
        try {
          const o = JSON.parse(l) as Record<string, unknown>;
          if (o && typeof o === 'object') this.lines.push(o);
        } catch {
          /* a text line */
        }
        for (const w of this.waiters.splice(0)) w();
      });
    }
    child.on('exit', (code, sig) => {
      this.exited = code ?? (sig ? 128 : 1);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Waits for an output line matching `pred`; fails if the process exits first or on timeout. */
  async waitFor(what: string, pred: (l: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.text.find(pred);
      if (hit !== undefined) return hit;
      if (this.exited !== null)
        throw new LabError(`${this.name} exited (${this.exited}) before ${what}:\n${this.tail()}`);
      const left = end - Date.now();
      if (left <= 0) throw new LabError(`${this.name}: no ${what} within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  tail(n = 15): string {
    return this.text.slice(-n).join('\n');
  }

  /** CPU seconds (user + system, children included) of the process and its threads so far. */
  cpuSeconds(): number {
    return cpuSeconds(this.innerPid());
  }

  /** The pid inside `ip netns exec` (which execs, so it is the same one). */
  innerPid(): number {
    return this.pid;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<void> {
    if (this.exited !== null) return;
    this.child.kill(signal);
    const end = Date.now() + timeoutMs;
    while (this.exited === null && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    if (this.exited === null) {
      this.child.kill('SIGKILL');
      while (this.exited === null) await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** utime + stime + cutime + cstime of a process, in seconds; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // Fields 14-17 of proc(5), counted from "state" (field 3) at index 0.
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TCK;
  } catch {
    return 0;
  }
}

const ENV = {
  ...process.env,
  HYBRID_ACCESS_TUN_ADDON: join(REPO_ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
};

export function spawnIn(prefix: string, ns: string, name: string, argv: string[]): Daemon {
  const child = spawn('ip', ['netns', 'exec', nsName(prefix, ns as 'cpe'), ...argv], {
    cwd: REPO_ROOT,
    env: ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Daemon(name, child);
}

function sh(prefix: string, ns: string, cmd: string): string {
  try {
    return execFileSync('ip', ['netns', 'exec', nsName(prefix, ns as 'cpe'), 'sh', '-c', cmd], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new LabError(`${ns}: ${cmd}: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

const dist = (p: string) => join(REPO_ROOT, 'dist', p);

export interface Product {
  /** The HAG (the first host's with `hagHosts: 2`). */
  hag: Daemon;
  /** Every HAG host's (one, or two with `hagHosts: 2`: in namespaces hag1 and hag2). */
  hags: Daemon[];
  cpe: Daemon;
  stop(): Promise<void>;
}

/**
 * Writes a config/lab file into the lab's run directory with {{RUN_DIR}} and {{PREFIX}} filled in;
 * in a transparent profile, with the daemons' transparent settings (transparentEdits); in a
 * lanSlaac one, with the CPE's router advertisements on (lanSlaacEdits); in an inbound one, with
 * the CPE's port forwards (inboundEdits).
 */
function labConfig(prefix: string, name: string, host?: number): string {
  let text = readFileSync(join(REPO_ROOT, 'config/lab', name), 'utf8')
    .replaceAll('{{RUN_DIR}}', runDir(prefix))
    .replaceAll('{{PREFIX}}', prefix);
  const profile = readState(prefix)?.profile;
  if (profile?.transparent) text = transparentEdits(name, text);
  if (profile?.lanSlaac && name.startsWith('cpe')) text = lanSlaacEdits(text);
  if (profile?.inbound && name.startsWith('cpe')) text = inboundEdits(text);
  if (host !== undefined) text = hagHostEdits(text, host);
  const file = join(runDir(prefix), host === undefined ? name : `hag${host + 1}.yaml`);
  writeFileSync(file, text);
  return file;
}

/**
 * The lab HAG's config for HAG host `i` of `hagHosts: 2`: its join addresses (the C flag and
 * ADD_ADDR, so that joins reach it and not the other host), one worker, its egress from its own
 * address on the router's link.
 */
export function hagHostEdits(text: string, i: number): string {
  const h = HAG_HOSTS[i];
  const doc = parseDocument(text);
  doc.setIn(['service', 'joinAddresses'], doc.createNode([h.join, h.join6]));
  doc.set('workers', 1);
  // Inbound forwarding listens on the one HAG's server-side address, which no HAG host has.
  doc.deleteIn(['service', 'inbound']);
  doc.setIn(['egress', 'source4'], h.addr);
  doc.setIn(['egress', 'source6'], h.addr6);
  return doc.toString();
}

/** The HAG's interfaces toward the access links, where subscribers' MPTCP SYNs arrive. */
export const HAG_ACCESS_INTERFACES = ['dsl0', 'lte0'];

/**
 * A lab config in transparent mode: the HAG terminates MPTCP SYNs arriving over either access
 * link (service.transparent), the CPE connects to the destinations themselves (hag.method
 * transparent). The subscribers are the CPE's own addresses only, so that an access network's
 * router (198.18.11.1, the DSL namespace) is a non-subscriber on the path.
 */
export function transparentEdits(name: string, text: string): string {
  const doc = parseDocument(text);
  if (name === 'hag.yaml') {
    doc.setIn(['service', 'transparent'], doc.createNode({ interfaces: HAG_ACCESS_INTERFACES }));
    const subs = (doc.getIn(['access', 'subscribers']) as { toJSON(): string[] }).toJSON();
    const router = `${ADDR.dsl.hag}/32`;
    doc.setIn(
      ['access', 'subscribers'],
      subs.filter((s) => s !== router),
    );
    // The inbound rules name subscribers too (the natboxes profile's DSL box): the router's goes.
    const allow = doc.getIn(['service', 'inbound', 'allow']) as
      | { toJSON(): { subscribers: string[] }[] }
      | undefined;
    if (allow)
      doc.setIn(
        ['service', 'inbound', 'allow'],
        doc.createNode(
          allow.toJSON().map((r) => ({ ...r, subscribers: r.subscribers.filter((s) => s !== router) })),
        ),
      );
  } else doc.setIn(['hag', 'method'], 'transparent');
  return doc.toString();
}

/** A lab CPE config with its router advertisements on (lan.ra.enabled), for a lanSlaac profile. */
export function lanSlaacEdits(text: string): string {
  const doc = parseDocument(text);
  doc.setIn(['lan', 'ra', 'enabled'], true);
  return doc.toString();
}

/** A lab CPE config with the port forwards of config/lab/cpe-inbound.yaml, for an inbound profile. */
export function inboundEdits(text: string): string {
  const doc = parseDocument(text);
  const forwards = parseDocument(readFileSync(join(REPO_ROOT, 'config/lab/cpe-inbound.yaml'), 'utf8'));
  doc.set('inbound', forwards.get('inbound', true));
  return doc.toString();
}

/** The CPE config (in config/lab/) of a lab profile: its `cpeConfig`, else by natboxes. */
export function cpeConfigOf(profile: LabProfile | undefined): string {
  return profile?.cpeConfig ?? (profile?.natboxes ? 'cpe-natboxes.yaml' : 'cpe.yaml');
}

/**
 * Starts the HAG and the CPE daemons on a lab that is up; the LAN's TCP then goes through them.
 * `distDir`: where tsc put the build (default dist/ of the repository); `nodeArgs`: options for
 * node before the script, per daemon (e.g. --cpu-prof); `cpeConfig`: the CPE's config in
 * config/lab/ instead of the profile's (bench-lab's IPv6-subflow downloads: cpe-ipv6.yaml).
 */
export async function startProduct(
  prefix: string,
  opts: { distDir?: string; nodeArgs?: { hag?: string[]; cpe?: string[] }; cpeConfig?: string } = {},
): Promise<Product> {
  const cli = opts.distDir ? join(opts.distDir, 'src/cli.js') : dist('src/cli.js');
  if (!existsSync(cli)) throw new LabError(`${cli} is missing: build first (npm run build)`);
  // With `hagHosts: 2` a HAG in each host namespace, with its own join addresses; else the one.
  const hosts = readState(prefix)?.profile.hagHosts === 2 ? HAG_HOSTS.map((_, i) => i) : [undefined];
  const hags = hosts.map((i) =>
    spawnIn(prefix, i === undefined ? 'hag' : HAG_HOSTS[i].ns, i === undefined ? 'HAG' : `HAG ${i + 1}`, [
      'node',
      ...(opts.nodeArgs?.hag ?? []),
      cli,
      'hag',
      '--config',
      labConfig(prefix, 'hag.yaml', i),
    ]),
  );
  const hag = hags[0];
  const started: Daemon[] = [...hags];
  try {
    for (const d of hags) {
      const h = await d.waitFor('its start', (l) => /"event":"start(-failed)?"/.test(l), 30_000);
      if (h.includes('start-failed')) throw new LabError(`${d.name} did not start:\n${d.tail()}`);
    }
    const cpe = spawnIn(prefix, 'cpe', 'CPE', [
      'node',
      ...(opts.nodeArgs?.cpe ?? []),
      cli,
      'cpe',
      '--config',
      // The profile's CPE config; behind the natboxes profile's boxes the uplinks take DHCP leases
      // (config/lab/cpe-natboxes.yaml).
      labConfig(prefix, opts.cpeConfig ?? cpeConfigOf(readState(prefix)?.profile)),
    ]);
    started.push(cpe);
    const c = await cpe.waitFor('its start', (x) => /"event":"(start|start-failed|crash)"/.test(x), 30_000);
    if (!c.includes('"event":"start"')) throw new LabError(`the CPE did not start:\n${cpe.tail()}`);
    return {
      hag,
      hags,
      cpe,
      stop: async () => {
        await cpe.stop();
        for (const d of hags) await d.stop();
      },
    };
  } catch (e) {
    for (const d of started) await d.stop('SIGKILL');
    throw e;
  }
}

export interface KernelBaseline {
  cpe: Daemon;
  hag: Daemon;
  stop(): Promise<void>;
}

const KNFT = 'habench_kernel';

/**
 * Starts the kernel-MPTCP baseline: relay on the HAG (MPTCP listener on 198.18.101.1), the CPE's
 * endpoints (a subflow from the LTE address besides the initial one over DSL) and limits, TPROXY of
 * the LAN's TCP to the CPE relay.
 */
export async function startKernelBaseline(prefix: string): Promise<KernelBaseline> {
  const script = join(REPO_ROOT, 'scripts/lab-impl/kernel-proxy.py');
  const started: Daemon[] = [];
  try {
    sh(prefix, 'hag', `ip addr replace ${KERNEL_RELAY}/32 dev lo && sysctl -qw net.mptcp.enabled=1`);
    const hag = spawnIn(prefix, 'hag', 'kernel relay (HAG)', [
      'python3',
      '-u',
      script,
      'hag',
      '--listen',
      `${KERNEL_RELAY}:${KERNEL_RELAY_PORT}`,
    ]);
    started.push(hag);
    await hag.waitFor('ready', (l) => l === 'ready');
    sh(
      prefix,
      'cpe',
      [
        'sysctl -qw net.mptcp.enabled=1',
        'ip mptcp endpoint flush',
        'ip mptcp limits set subflows 2 add_addr_accepted 0',
        `ip mptcp endpoint add ${ADDR.cpe.lte} dev lte0 subflow`,
        'ip rule add fwmark 0x2 lookup 102 priority 30000',
        'ip route replace local 0.0.0.0/0 dev lo table 102',
        'ip -6 rule add fwmark 0x2 lookup 102 priority 30000',
        'ip -6 route replace local ::/0 dev lo table 102',
      ].join(' && '),
    );
    const nft = [
      `table inet ${KNFT} {`,
      '  chain prerouting {',
      '    type filter hook prerouting priority mangle; policy accept;',
      '    meta l4proto tcp socket transparent 1 meta mark set 0x2 accept',
      '    iifname != "lan0" return',
      '    fib daddr type local return',
      `    meta nfproto ipv4 meta l4proto tcp tproxy ip to :${TPROXY_PORT} meta mark set 0x2 accept`,
      `    meta nfproto ipv6 meta l4proto tcp tproxy ip6 to :${TPROXY_PORT} meta mark set 0x2 accept`,
      '  }',
      '}',
    ].join('\n');
    execFileSync('ip', ['netns', 'exec', nsName(prefix, 'cpe'), 'nft', '-f', '-'], { input: `${nft}\n` });
    const cpe = spawnIn(prefix, 'cpe', 'kernel relay (CPE)', [
      'python3',
      '-u',
      script,
      'cpe',
      '--port',
      String(TPROXY_PORT),
      '--hag',
      `${KERNEL_RELAY}:${KERNEL_RELAY_PORT}`,
    ]);
    started.push(cpe);
    await cpe.waitFor('ready', (l) => l === 'ready');
    return {
      cpe,
      hag,
      stop: async () => {
        await cpe.stop('SIGKILL');
        await hag.stop('SIGKILL');
        stopKernelPlumbing(prefix);
      },
    };
  } catch (e) {
    for (const d of started) await d.stop('SIGKILL');
    stopKernelPlumbing(prefix);
    throw e;
  }
}

function stopKernelPlumbing(prefix: string): void {
  const cmds = [
    `nft delete table inet ${KNFT}`,
    'ip mptcp endpoint flush',
    'ip rule del fwmark 0x2 lookup 102 priority 30000',
    'ip -6 rule del fwmark 0x2 lookup 102 priority 30000',
    'ip route flush table 102',
    'ip -6 route flush table 102',
  ];
  for (const c of cmds) {
    try {
      sh(prefix, 'cpe', c);
    } catch {
      /* not there */
    }
  }
}

/** rx/tx byte counters of the CPE's uplinks (from /sys in its namespace). */
export function uplinkBytes(prefix: string): Record<'dsl' | 'lte', { rx: number; tx: number }> {
  const text = sh(
    prefix,
    'cpe',
    'for d in dsl0 lte0; do echo $d $(cat /sys/class/net/$d/statistics/rx_bytes) $(cat /sys/class/net/$d/statistics/tx_bytes); done',
  );
  const r = { dsl: { rx: 0, tx: 0 }, lte: { rx: 0, tx: 0 } };
  for (const line of text.trim().split('\n')) {
    const [d, rx, tx] = line.split(' ');
    r[d === 'dsl0' ? 'dsl' : 'lte'] = { rx: Number(rx), tx: Number(tx) };
  }
  return r;
}

/** Bytes received so far on interface `dev` of a lab namespace. */
export function ifaceRx(prefix: string, ns: string, dev: string): number {
  return Number(sh(prefix, ns, `cat /sys/class/net/${dev}/statistics/rx_bytes`).trim());
}
