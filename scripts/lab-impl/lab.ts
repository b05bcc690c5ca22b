// The lab: six network namespaces (<prefix>-client, -cpe, -dsl, -lte, -hag, -server), their veth
// links and addresses (IPv4 and IPv6), policy routing, NAT, tbf rate limits and one delay-line
// process per access link (with a natboxes profile the dsl and lte namespaces are also two NAT
// boxes handing the CPE 192.168.1.x by DHCP, scripts/lab-impl/natbox.ts; with `hagHosts: 2` the
// hag namespace is a router with an ECMP route to two HAG hosts, hag1 and hag2, hagHosts());
// plus faults (link down/up, loss bursts, a HAG host off), status and teardown. Used by
// scripts/lab (the CLI) and by the tests, which give each run its own prefix. Everything it creates
// lives in those namespaces or in /run/hybrid-access-lab/<prefix>/, and labDown() removes all of it.
//
//  client ─eth0──lan0─ cpe ─dsl0──cpe─ dsl ─hag──dsl0─ hag ─srv0──eth0─ server
//                          └lte0──cpe─ lte ─hag──lte0─┘
// In a link namespace (dsl, lte) `ip rule iif cpe` sends traffic into TUN dly-up and `iif hag` into
// dly-down; the delay line writes each packet back into its TUN after the delay, and the main table
// forwards it. tbf on the egress of `hag` (up) and `cpe` (down) limits the rate.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DelayLineProcessConfig } from './delay-line-main.js';
import { NATBOX, natboxDhcpArgv } from './natbox.js';
import { formatRate, type LabProfile, LINK_NAMES, type LinkName, loadProfile } from './profiles.js';

export const NAMESPACES = ['client', 'cpe', 'dsl', 'lte', 'hag', 'server'] as const;
/** The HAG hosts of a profile with `hagHosts: 2`, behind the HAG namespace as their router. */
export const HAG_HOST_NAMESPACES = ['hag1', 'hag2'] as const;
export type LabNamespace = (typeof NAMESPACES)[number] | (typeof HAG_HOST_NAMESPACES)[number];
const ALL_NAMESPACES: readonly LabNamespace[] = [...NAMESPACES, ...HAG_HOST_NAMESPACES];
export const DEFAULT_PREFIX = 'ha';
export const RUN_DIR = '/run/hybrid-access-lab';

/** The lab's IPv4 addresses (all /24, from 198.18.0.0/15). */
export const ADDR = {
  client: { lan: '198.18.1.2' },
  cpe: { lan: '198.18.1.1', dsl: '198.18.10.2', lte: '198.18.20.2' },
  dsl: { cpe: '198.18.10.1', hag: '198.18.11.1' },
  lte: { cpe: '198.18.20.1', hag: '198.18.21.1' },
  hag: { dsl: '198.18.11.2', lte: '198.18.21.2', server: '198.18.30.1' },
  server: { hag: '198.18.30.2' },
} as const;

/** The lab's IPv6 addresses (all /64, from 2001:db8::/32; subnet n mirrors 198.18.n.0/24). */
export const ADDR6 = {
  client: { lan: '2001:db8:1::2' },
  cpe: { lan: '2001:db8:1::1', dsl: '2001:db8:10::2', lte: '2001:db8:20::2' },
  dsl: { cpe: '2001:db8:10::1', hag: '2001:db8:11::1' },
  lte: { cpe: '2001:db8:20::1', hag: '2001:db8:21::1' },
  hag: { dsl: '2001:db8:11::2', lte: '2001:db8:21::2', server: '2001:db8:30::1' },
  server: { hag: '2001:db8:30::2' },
} as const;

/**
 * The two HAG hosts of `hagHosts: 2` (issue 17): each one veth from the router (the HAG
 * namespace: `ifname` there, `rtr` in the host), its address on that link (its egress source and
 * the ECMP next hop of the service addresses), and its unicast join addresses (routed to it).
 */
export const HAG_HOSTS = [
  {
    ns: 'hag1',
    ifname: 'h1',
    router: '198.18.41.1',
    addr: '198.18.41.2',
    router6: '2001:db8:41::1',
    addr6: '2001:db8:41::2',
    join: '198.18.102.1',
    join6: '2001:db8:102::1',
  },
  {
    ns: 'hag2',
    ifname: 'h2',
    router: '198.18.42.1',
    addr: '198.18.42.2',
    router6: '2001:db8:42::1',
    addr6: '2001:db8:42::2',
    join: '198.18.102.2',
    join6: '2001:db8:102::2',
  },
] as const;

/** The repository root (the nearest folder above this file with a package.json; works from dist/ too). */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('lab: cannot find the repository root (no package.json above)');
    dir = up;
  }
  return dir;
})();

export const DEFAULT_PROFILES_FILE = join(REPO_ROOT, 'config', 'lab', 'profiles.yaml');

export class LabError extends Error {
  override readonly name = 'LabError';
}

/** What `lab up` leaves in the run directory (state.json). */
export interface LabState {
  prefix: string;
  profile: LabProfile;
  delayLines: Record<LinkName, { pid: number; socket: string; log: string }>;
  startedAt: string;
}

export interface LabUpOptions {
  /** The profiles file (default config/lab/profiles.yaml). */
  profilesFile?: string;
}

export function checkPrefix(prefix: string): void {
  // Namespace names are <prefix>-server etc.; keep them short and shell-safe.
  if (!/^[a-z][a-z0-9]{0,15}$/.test(prefix)) {
    throw new LabError(
      `invalid prefix "${prefix}": use 1-16 lowercase letters and digits, starting with a letter`,
    );
  }
}

export function nsName(prefix: string, ns: LabNamespace): string {
  return `${prefix}-${ns}`;
}

export function runDir(prefix: string): string {
  return join(RUN_DIR, prefix);
}

function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const detail = (err.stderr ?? '').trim() || err.message;
    throw new LabError(`${cmd} ${args.join(' ')} failed: ${detail}`);
  }
}

/** Runs `ip -n <ns> -batch -` with one ip command per line (without the leading "ip"). */
function ipBatch(ns: string, commands: string[], family: '-4' | '-6' = '-4'): void {
  run('ip', [family, '-n', ns, '-batch', '-'], `${commands.join('\n')}\n`);
}

function nsExec(ns: string, argv: string[]): string {
  return run('ip', ['netns', 'exec', ns, ...argv]);
}

function sysctls(ns: string, settings: string[]): void {
  nsExec(ns, ['sysctl', '-q', '-w', ...settings]);
}

/** Namespaces of this prefix that exist now. */
export function existingNamespaces(prefix: string): string[] {
  const names = run('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
  const ours = new Set(ALL_NAMESPACES.map((n) => nsName(prefix, n)));
  return names.filter((n) => ours.has(n));
}

/** A veth pair created directly in its two namespaces (nothing appears in the caller's namespace). */
function veth(prefix: string, a: LabNamespace, ifA: string, b: LabNamespace, ifB: string): void {
  run('ip', [
    '-n',
    nsName(prefix, a),
    'link',
    'add',
    ifA,
    'type',
    'veth',
    'peer',
    'name',
    ifB,
    'netns',
    nsName(prefix, b),
  ]);
}

/**
 * GRO on a lab veth (ethtool -K DEV gro on), so that TCP bursts reach the TUNs of the CPE and the
 * HAG as super-packets, as a router's NIC with GRO delivers them. Harmless where the kernel or
 * ethtool lacks it: returns why it is off, or undefined when on.
 */
function enableGro(ns: string, dev: string): string | undefined {
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'gro', 'on'], {
      stdio: 'pipe',
      timeout: 10_000,
    });
    const k = execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-k', dev], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    return /^generic-receive-offload: on/m.test(k) ? undefined : 'still off';
  } catch (e) {
    const err = e as { stderr?: Buffer | string; message: string };
    return String(err.stderr ?? '').trim() || err.message;
  }
}

/** tbf limit: about 50 ms of the rate, at least two full bursts. */
function tbf(ns: string, dev: string, rateBps: number): void {
  const limit = Math.max(30_000, Math.round((rateBps / 8) * 0.05));
  run('tc', [
    '-n',
    ns,
    'qdisc',
    'replace',
    'dev',
    dev,
    'root',
    'tbf',
    'rate',
    formatRate(rateBps),
    'burst',
    '15000',
    'limit',
    String(limit),
  ]);
}

/** Routes of a link namespace that a link-down removes (re-applied by fault up). */
function linkRoutes(link: LinkName): string[] {
  return [`route replace default via ${ADDR.hag[link]} dev hag`];
}

function linkRoutes6(link: LinkName): string[] {
  return [`route replace default via ${ADDR6.hag[link]} dev hag`];
}

/** Path of the compiled delay-line process; compiles it (tsc, only what it imports) when stale. */
export function delayLineScript(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return join(dirname(here), 'delay-line-main.js');
  const out = join(REPO_ROOT, 'dist', 'scripts', 'lab-impl', 'delay-line-main.js');
  const sources = [
    'scripts/lab-impl/delay-line-main.ts',
    'scripts/lab-impl/delay-line.ts',
    'src/io/tun-tap/index.ts',
  ].map((s) => join(REPO_ROOT, s));
  const builtAt = existsSync(out) ? statSync(out).mtimeMs : 0;
  if (sources.some((s) => statSync(s).mtimeMs > builtAt)) compileLab(['scripts/lab-impl/delay-line-main.ts']);
  return out;
}

/**
 * Compiles the given entry points and what they import into dist/ (the project's tsc settings).
 * tsc writes into a fresh folder first and each file is then renamed into place, so that labs
 * coming up at the same time (test files run in parallel) never start a half-written script.
 */
export function compileLab(entries: string[]): void {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const dist = join(REPO_ROOT, 'dist');
  mkdirSync(dist, { recursive: true });
  const tmp = mkdtempSync(join(dist, '.lab-build-'));
  try {
    compileInto(tsc, tmp, entries);
    moveTree(tmp, dist);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Renames every file under `from` to the same place under `to` (one atomic rename each). */
function moveTree(from: string, to: string): void {
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) {
      mkdirSync(dst, { recursive: true });
      moveTree(src, dst);
    } else renameSync(src, dst);
  }
}

function compileInto(tsc: string, outDir: string, entries: string[]): void {
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      '--outDir',
      outDir,
      '--rootDir',
      '.',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--lib',
      'es2023',
      '--types',
      'node',
      '--strict',
      '--verbatimModuleSyntax',
      '--skipLibCheck',
      '--sourceMap',
      ...entries,
    ],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new LabError(`compiling ${entries.join(' ')} failed:\n${r.stdout}${r.stderr}`);
}

/**
 * Brings the lab up with the named profile. Fails if namespaces of this prefix exist already; on any
 * failure it removes what it created before throwing.
 */
export async function labUp(
  profileName = 'default',
  prefix = DEFAULT_PREFIX,
  options: LabUpOptions = {},
): Promise<LabState> {
  requireRoot();
  checkPrefix(prefix);
  const profile = loadProfile(options.profilesFile ?? DEFAULT_PROFILES_FILE, profileName);
  const present = existingNamespaces(prefix);
  if (present.length > 0) {
    throw new LabError(
      `a lab with prefix "${prefix}" exists already (${present.join(', ')}): run \`scripts/lab down --prefix ${prefix}\` first`,
    );
  }
  const script = delayLineScript();
  try {
    return await build(prefix, profile, script);
  } catch (e) {
    labDown(prefix);
    throw e;
  }
}

async function build(prefix: string, profile: LabProfile, script: string): Promise<LabState> {
  const dir = runDir(prefix);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const n = (ns: LabNamespace) => nsName(prefix, ns);

  const hosts = profile.hagHosts === 2 ? HAG_HOST_NAMESPACES : [];
  for (const ns of [...NAMESPACES, ...hosts]) {
    run('ip', ['netns', 'add', n(ns)]);
    ipBatch(n(ns), ['link set lo up']);
    // No duplicate address detection: addresses (link-local ones too) are usable at once.
    sysctls(n(ns), ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
  }
  veth(prefix, 'client', 'eth0', 'cpe', 'lan0');
  veth(prefix, 'cpe', 'dsl0', 'dsl', 'cpe');
  veth(prefix, 'dsl', 'hag', 'hag', 'dsl0');
  veth(prefix, 'cpe', 'lte0', 'lte', 'cpe');
  veth(prefix, 'lte', 'hag', 'hag', 'lte0');
  veth(prefix, 'hag', 'srv0', 'server', 'eth0');
  const veths: [LabNamespace, string][] = [
    ['client', 'eth0'],
    ['cpe', 'lan0'],
    ['cpe', 'dsl0'],
    ['dsl', 'cpe'],
    ['dsl', 'hag'],
    ['hag', 'dsl0'],
    ['cpe', 'lte0'],
    ['lte', 'cpe'],
    ['lte', 'hag'],
    ['hag', 'lte0'],
    ['hag', 'srv0'],
    ['server', 'eth0'],
  ];
  const groOff = veths
    .map(([ns, dev]) => [`${ns}/${dev}`, enableGro(n(ns), dev)] as const)
    .filter(([, why]) => why !== undefined);
  process.stderr.write(
    groOff.length === 0
      ? `lab: GRO on for all ${veths.length} veth devices\n`
      : `lab: GRO off on ${groOff.map(([d, why]) => `${d} (${why})`).join(', ')}\n`,
  );

  ipBatch(n('client'), [
    `addr add ${ADDR.client.lan}/24 dev eth0`,
    'link set eth0 up',
    `route add default via ${ADDR.cpe.lan}`,
  ]);
  // With lanSlaac the LAN host configures itself from the CPE daemon's router advertisements.
  if (profile.lanSlaac)
    sysctls(n('client'), ['net.ipv6.conf.eth0.accept_ra=1', 'net.ipv6.conf.eth0.autoconf=1']);
  else
    ipBatch(
      n('client'),
      [`addr add ${ADDR6.client.lan}/64 dev eth0 nodad`, `route add default via ${ADDR6.cpe.lan}`],
      '-6',
    );

  // The CPE: a router with one address per uplink; traffic from each address leaves by its uplink;
  // everything else (the LAN) goes out over DSL, masqueraded. Behind NAT boxes the uplinks have no
  // address until the CPE daemon takes the boxes' DHCP leases (and sets up its own routing).
  // A link of one family (a profile's `families`) has no address, route or rule of the other.
  const links4 = LINK_NAMES.filter((l) => profile.links[l].ipv4 !== false);
  const links6 = LINK_NAMES.filter((l) => profile.links[l].ipv6 !== false);
  // A link with `ra` advertises its prefix: the CPE configures its side itself (SLAAC); one with
  // `dhcpv6` leases it an address.
  const static6 = links6.filter((l) => profile.links[l].ra !== true && profile.links[l].dhcpv6 !== true);
  const table = (l: LinkName) => (l === 'dsl' ? 10 : 20);
  ipBatch(n('cpe'), [
    `addr add ${ADDR.cpe.lan}/24 dev lan0`,
    'link set lan0 up',
    'link set dsl0 up',
    'link set lte0 up',
    ...(profile.natboxes
      ? []
      : [
          ...links4.map((l) => `addr add ${ADDR.cpe[l]}/24 dev ${l}0`),
          ...links4.slice(0, 1).map((l) => `route add default via ${ADDR[l].cpe} dev ${l}0`),
          ...links4.map((l) => `route add default via ${ADDR[l].cpe} dev ${l}0 table ${table(l)}`),
          ...links4.map((l) => `rule add from ${ADDR.cpe[l]} lookup ${table(l)} pref 10${table(l)}`),
        ]),
  ]);
  ipBatch(
    n('cpe'),
    [
      `addr add ${ADDR6.cpe.lan}/64 dev lan0 nodad`,
      ...(profile.natboxes
        ? []
        : [
            ...static6.map((l) => `addr add ${ADDR6.cpe[l]}/64 dev ${l}0 nodad`),
            ...static6.slice(0, 1).map((l) => `route add default via ${ADDR6[l].cpe} dev ${l}0`),
            ...static6.map((l) => `route add default via ${ADDR6[l].cpe} dev ${l}0 table ${table(l)}`),
            ...static6.map((l) => `rule add from ${ADDR6.cpe[l]} lookup ${table(l)} pref 10${table(l)}`),
          ]),
    ],
    '-6',
  );
  sysctls(n('cpe'), [
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
    // Two uplinks in one subnet (NAT boxes): each one's routes are in its own table only.
    ...(profile.natboxes ? ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'] : []),
  ]);
  for (const dev of ['dsl0', 'lte0']) {
    nsExec(n('cpe'), [
      'ip6tables',
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-s',
      '2001:db8:1::/64',
      '-o',
      dev,
      '-j',
      'MASQUERADE',
    ]);
    nsExec(n('cpe'), [
      'iptables',
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-s',
      '198.18.1.0/24',
      '-o',
      dev,
      '-j',
      'MASQUERADE',
    ]);
  }

  // The HAG: a router; the CPE's DSL addresses are routed back over DSL, LTE arrives NATed by the
  // carrier (its address is on the lte0 subnet).
  ipBatch(n('hag'), [
    ...links4.map((l) => `addr add ${ADDR.hag[l]}/24 dev ${l}0`),
    `addr add ${ADDR.hag.server}/24 dev srv0`,
    'link set dsl0 up',
    'link set lte0 up',
    'link set srv0 up',
    ...(links4.includes('dsl') ? [`route add 198.18.10.0/24 via ${ADDR.dsl.hag} dev dsl0`] : []),
  ]);
  ipBatch(
    n('hag'),
    [
      ...links6.map((l) => `addr add ${ADDR6.hag[l]}/64 dev ${l}0 nodad`),
      `addr add ${ADDR6.hag.server}/64 dev srv0 nodad`,
      ...(links6.includes('dsl') ? [`route add 2001:db8:10::/64 via ${ADDR6.dsl.hag} dev dsl0`] : []),
    ],
    '-6',
  );
  sysctls(n('hag'), ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  if (profile.hagHosts === 2) hagHosts(prefix);

  ipBatch(n('server'), [
    `addr add ${ADDR.server.hag}/24 dev eth0`,
    'link set eth0 up',
    `route add default via ${ADDR.hag.server}`,
  ]);
  ipBatch(
    n('server'),
    [`addr add ${ADDR6.server.hag}/64 dev eth0 nodad`, `route add default via ${ADDR6.hag.server}`],
    '-6',
  );

  const delayLines = {} as LabState['delayLines'];
  for (const link of LINK_NAMES) {
    const ns = n(link);
    const lp = profile.links[link];
    const has4 = lp.ipv4 !== false;
    const has6 = lp.ipv6 !== false;
    ipBatch(ns, [
      // A NAT box's LAN port, or the access network's side facing the CPE.
      ...(profile.natboxes
        ? [`addr add ${NATBOX.gateway}/${NATBOX.prefixLen} dev cpe`]
        : has4
          ? [`addr add ${ADDR[link].cpe}/24 dev cpe`]
          : []),
      ...(has4 ? [`addr add ${ADDR[link].hag}/24 dev hag`] : []),
      'link set cpe up',
      'link set hag up',
      ...(has4 ? linkRoutes(link) : []),
    ]);
    if (has6)
      ipBatch(
        ns,
        [
          `addr add ${ADDR6[link].cpe}/64 dev cpe nodad`,
          `addr add ${ADDR6[link].hag}/64 dev hag nodad`,
          ...linkRoutes6(link),
        ],
        '-6',
      );
    // 10gbit or more means unshaped (the profile "unshaped", for the ceiling): no tbf at all.
    if (lp.up.rateBps < UNSHAPED_BPS) tbf(ns, 'hag', lp.up.rateBps);
    if (lp.down.rateBps < UNSHAPED_BPS) tbf(ns, 'cpe', lp.down.rateBps);
    sysctls(ns, [
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
      'net.ipv6.conf.all.forwarding=1',
      // fault down/up: keep the IPv6 addresses while the link is down (IPv4 keeps them anyway).
      'net.ipv6.conf.all.keep_addr_on_down=1',
    ]);
    // Towards the HAG: the LTE carrier's NAT, or the NAT box's (both links). Conntrack sees each
    // packet twice (before and after the delay line); only the HAG-side pass is tracked, so the
    // NAT is decided where it applies.
    const nat: [string, string][] = profile.natboxes
      ? [['iptables', NATBOX.subnet]]
      : link === 'lte'
        ? ([
            ...(has4 ? [['iptables', '198.18.20.0/24']] : []),
            ...(has6 ? [['ip6tables', '2001:db8:20::/64']] : []),
          ] as [string, string][])
        : [];
    for (const [cmd, lan] of nat) {
      const ipt = (...args: string[]) => nsExec(ns, [cmd, ...args]);
      // Without a delay line (unshaped) each packet passes once and all of them are tracked.
      if (needsDelayLine(lp)) {
        ipt('-t', 'raw', '-A', 'PREROUTING', '-i', 'cpe', '-j', 'CT', '--notrack');
        ipt('-t', 'raw', '-A', 'PREROUTING', '-i', 'dly-down', '-j', 'CT', '--notrack');
      }
      ipt('-t', 'nat', '-A', 'POSTROUTING', '-s', lan, '-o', 'hag', '-j', 'MASQUERADE');
    }

    if (lp.ra === true || lp.dhcpv6 === true) {
      // The access network's router advertisements (dnsmasq, RA only): the CPE's side of the link
      // configures itself from them (SLAAC, RFC 4862); labDown stops it with the namespace.
      const logFd = openSync(join(runDir(prefix), `${link}-ra.log`), 'a');
      spawn('ip', ['netns', 'exec', ns, ...raArgv('cpe', runDir(prefix), `${link}-ra`)], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
      }).unref();
      closeSync(logFd);
    }

    if (lp.dhcpv6 === true) {
      // The access network's DHCPv6 server (addresses and prefix delegation); stopped by labDown.
      const logFd = openSync(join(runDir(prefix), `${link}-dhcp6.log`), 'a');
      spawn('ip', ['netns', 'exec', ns, ...dhcp6Argv('cpe', runDir(prefix), `${link}-dhcp6`)], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
      }).unref();
      closeSync(logFd);
    }

    if (profile.natboxes) {
      // The box's DHCP server; labDown stops it with everything else running in the namespace.
      const logFd = openSync(join(runDir(prefix), `${link}-dhcp.log`), 'a');
      const argv = natboxDhcpArgv('cpe', runDir(prefix), `${link}-box`);
      spawn('ip', ['netns', 'exec', ns, ...argv], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
      }).unref();
      closeSync(logFd);
    }

    const socket = join(runDir(prefix), `${link}.sock`);
    const log = join(runDir(prefix), `${link}.log`);
    const config: DelayLineProcessConfig = {
      link,
      socket,
      seed: profile.seed * 2 + (link === 'dsl' ? 0 : 1),
      reorder: lp.reorder,
      up: { tun: 'dly-up', ...pick(lp.up) },
      down: { tun: 'dly-down', ...pick(lp.down) },
    };
    const logFd = openSync(log, 'a');
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, JSON.stringify(config)], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
    closeSync(logFd);
    child.unref();
    if (child.pid === undefined) throw new LabError(`cannot start the ${link} delay line (${script})`);
    delayLines[link] = { pid: child.pid, socket, log };
    // Written as soon as there is a pid, so that labDown finds it even if the rest fails.
    writeState({ prefix, profile, delayLines, startedAt: new Date().toISOString() });
  }

  for (const link of LINK_NAMES) {
    await waitForDelayLine(link, delayLines[link]);
    // A link without delay, jitter or loss bypasses its delay line (loss bursts then do nothing).
    if (!needsDelayLine(profile.links[link])) continue;
    for (const family of ['-4', '-6'] as const) {
      ipBatch(
        n(link),
        [
          'rule add iif cpe lookup 100 pref 100',
          'rule add iif hag lookup 101 pref 101',
          'route add default dev dly-up table 100',
          'route add default dev dly-down table 101',
        ],
        family,
      );
    }
  }
  const state: LabState = { prefix, profile, delayLines, startedAt: new Date().toISOString() };
  writeState(state);
  return state;
}

/**
 * `hagHosts: 2`: the HAG namespace becomes the operator's router. Each HAG host hangs off it by
 * one veth; the service addresses have an ECMP route over both hosts, hashed on the 5-tuple
 * (policy 3 over addresses, protocol and ports: hag/workers/ecmp.ts says why not 1), and each host's join addresses a route to it alone. A host whose
 * link goes dark (labHostDown) drops out of the ECMP route (ignore_routes_with_linkdown).
 */
function hagHosts(prefix: string): void {
  const r = nsName(prefix, 'hag');
  for (const h of HAG_HOSTS) {
    const ns = nsName(prefix, h.ns);
    veth(prefix, 'hag', h.ifname, h.ns, 'rtr');
    ipBatch(r, [
      `addr add ${h.router}/24 dev ${h.ifname}`,
      `link set ${h.ifname} up`,
      `route add ${h.join}/32 via ${h.addr} dev ${h.ifname}`,
    ]);
    ipBatch(
      r,
      [`addr add ${h.router6}/64 dev ${h.ifname} nodad`, `route add ${h.join6}/128 via ${h.addr6}`],
      '-6',
    );
    ipBatch(ns, [`addr add ${h.addr}/24 dev rtr`, 'link set rtr up', `route add default via ${h.router}`]);
    ipBatch(ns, [`addr add ${h.addr6}/64 dev rtr nodad`, `route add default via ${h.router6}`], '-6');
    sysctls(ns, ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  }
  const via = (family: 4 | 6) =>
    HAG_HOSTS.flatMap((h) => ['nexthop', 'via', family === 4 ? h.addr : h.addr6, 'dev', h.ifname]).join(' ');
  ipBatch(r, [`route add ${HAG_SERVICE_ADDRESSES[0]}/32 ${via(4)}`]);
  ipBatch(r, [`route add ${HAG_SERVICE_ADDRESSES[1]}/128 ${via(6)}`], '-6');
  sysctls(r, [
    'net.ipv4.fib_multipath_hash_fields=0x0037',
    'net.ipv6.fib_multipath_hash_fields=0x0037',
    'net.ipv4.fib_multipath_hash_policy=3',
    'net.ipv6.fib_multipath_hash_policy=3',
    'net.ipv4.conf.all.ignore_routes_with_linkdown=1',
    'net.ipv6.conf.all.ignore_routes_with_linkdown=1',
  ]);
}

/** The service addresses of config/lab/hag.yaml (IPv4, IPv6). */
export const HAG_SERVICE_ADDRESSES = ['198.18.100.1', '2001:db8:100::1'] as const;

/**
 * A HAG host of `hagHosts: 2` off (its link dark, as a host powered off leaves its switch port) or
 * on again: the router's ECMP route skips a next hop whose link is down.
 */
export function labHostPower(prefix: string, host: 'hag1' | 'hag2', state: 'down' | 'up'): void {
  checkPrefix(prefix);
  ipBatch(nsName(prefix, host), [`link set rtr ${state}`]);
  if (state === 'up') {
    const h = HAG_HOSTS.find((x) => x.ns === host)!;
    ipBatch(nsName(prefix, host), [`route replace default via ${h.router}`]);
    ipBatch(nsName(prefix, host), [`route replace default via ${h.router6}`], '-6');
  }
}

/** dnsmasq sending router advertisements of the link's IPv6 prefix on `dev` (no DNS, no DHCP). */
function raArgv(dev: string, dir: string, name: string): string[] {
  return [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    `--interface=${dev}`,
    '--bind-interfaces',
    '--user=root',
    `--pid-file=${dir}/${name}.pid`,
    '--enable-ra',
    // An RA every 2 s: the CPE takes them only once its daemon has set accept_ra (it forwards).
    `--ra-param=${dev},2`,
    // The prefix of the interface's own address (constructor), advertised for SLAAC only.
    `--dhcp-range=::,constructor:${dev},ra-only,64,1h`,
  ];
}

/** The lab's DHCPv6 pools: LTE addresses in its /64 (masqueraded like the static ones), delegated /56s. */
export const DHCP6_POOL = {
  range: ['2001:db8:20::1000', '2001:db8:20::1fff'],
  prefixes: ['2001:db8:f0::', '2001:db8:f0:ff00::'],
  prefixLength: 56,
} as const;

/**
 * ISC dhcpd -6 in the foreground on `dev`: addresses from DHCP6_POOL.range, /56s from its prefixes,
 * short lifetimes (preferred 20 s, valid 40 s: the CPE renews at T1 = 10 s within a test).
 */
function dhcp6Argv(dev: string, dir: string, name: string): string[] {
  const conf = join(dir, `${name}.conf`);
  const leases = join(dir, `${name}.leases`);
  writeFileSync(
    conf,
    [
      'default-lease-time 40;',
      'max-lease-time 40;',
      'preferred-lifetime 20;',
      `option dhcp6.name-servers ${ADDR6.lte.cpe};`,
      `subnet6 ${ADDR6.lte.cpe.replace(/::1$/, '::')}/64 {`,
      `  range6 ${DHCP6_POOL.range.join(' ')};`,
      `  prefix6 ${DHCP6_POOL.prefixes.join(' ')} /${DHCP6_POOL.prefixLength};`,
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(leases, '');
  // The full path: npm's `dhcp` package (the CPE's DHCP wire tests) puts its own `dhcpd` in
  // node_modules/.bin, ahead in the PATH of npm scripts and vitest.
  return [
    '/usr/sbin/dhcpd',
    '-6',
    '-f',
    '-d',
    '-cf',
    conf,
    '-lf',
    leases,
    '-pf',
    join(dir, `${name}.pid`),
    dev,
  ];
}

/** Rates from this one up are not shaped (no tbf). */
export const UNSHAPED_BPS = 10e9;

function needsDelayLine(lp: LabProfile['links'][LinkName]): boolean {
  return [lp.up, lp.down].some((d) => d.delayMs > 0 || d.jitterMs > 0 || d.lossPercent > 0);
}

function pick(d: { delayMs: number; jitterMs: number; lossPercent: number }) {
  return { delayMs: d.delayMs, jitterMs: d.jitterMs, lossPercent: d.lossPercent };
}

function writeState(state: LabState): void {
  writeFileSync(join(runDir(state.prefix), 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
}

export function readState(prefix: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir(prefix), 'state.json'), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie (killed, waiting for its parent to reap it). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function waitGone(pids: number[], timeoutMs: number): void {
  const end = Date.now() + timeoutMs;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  while (pids.some(alive) && Date.now() < end) Atomics.wait(sleeper, 0, 0, 10);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-10).join('\n');
  } catch {
    return '';
  }
}

async function waitForDelayLine(
  link: LinkName,
  dl: { pid: number; socket: string; log: string },
): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      await control(dl.socket, { cmd: 'stats' }, 500);
      return;
    } catch {
      if (!alive(dl.pid)) throw new LabError(`the ${link} delay line exited: ${tail(dl.log)}`);
      if (Date.now() > end)
        throw new LabError(`the ${link} delay line did not start in 10 s: ${tail(dl.log)}`);
      await new Promise((r) => setTimeout(r, 30));
    }
  }
}

/** Sends one JSON command to a delay line's control socket and returns its answer. */
export function control(socket: string, request: object, timeoutMs = 2000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new LabError(`no answer from ${socket} in ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(`${JSON.stringify(request)}\n`));
    conn.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      conn.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch (e) {
        reject(e);
      }
    });
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * Removes everything of the lab with this prefix: its processes (the delay lines and anything still
 * running in its namespaces), the namespaces (and with them every interface, route, qdisc and
 * iptables rule) and the run directory. Safe to call when nothing (or only part) exists.
 */
export function labDown(prefix = DEFAULT_PREFIX): void {
  checkPrefix(prefix);
  const state = readState(prefix);
  const pids = new Set<number>();
  for (const dl of Object.values(state?.delayLines ?? {})) pids.add(dl.pid);
  const namespaces = existingNamespaces(prefix);
  for (const ns of namespaces) {
    try {
      for (const pid of run('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean)) pids.add(Number(pid));
    } catch {
      /* gone meanwhile */
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  // A namespace lives on (with its interfaces) while a process is in it: wait for them to end.
  waitGone([...pids], 5000);
  for (const ns of namespaces) {
    try {
      run('ip', ['netns', 'del', ns]);
    } catch {
      /* gone meanwhile */
    }
  }
  rmSync(runDir(prefix), { recursive: true, force: true });
}

/** Takes an access link down (both of its veths, so the CPE and the HAG see no carrier) or up again. */
export function labFault(prefix: string, link: LinkName, state: 'down' | 'up'): void {
  checkPrefix(prefix);
  const ns = nsName(prefix, link);
  if (!existingNamespaces(prefix).includes(ns))
    throw new LabError(`no lab with prefix "${prefix}" (namespace ${ns} is missing)`);
  if (state === 'down') {
    ipBatch(ns, ['link set cpe down', 'link set hag down']);
  } else {
    // An interface going down loses its routes: put them back (those of the families it carries).
    const lp = readState(prefix)?.profile.links[link];
    ipBatch(ns, ['link set cpe up', 'link set hag up', ...(lp?.ipv4 !== false ? linkRoutes(link) : [])]);
    if (lp?.ipv6 !== false) ipBatch(ns, linkRoutes6(link), '-6');
  }
}

/** A loss burst on both directions of a link: `percent` loss for `seconds`. */
export async function labLossBurst(
  prefix: string,
  link: LinkName,
  percent: number,
  seconds: number,
): Promise<void> {
  checkPrefix(prefix);
  const state = readState(prefix);
  if (state === undefined)
    throw new LabError(`no lab with prefix "${prefix}" (no ${runDir(prefix)}/state.json)`);
  const reply = await control(state.delayLines[link].socket, { cmd: 'burst', percent, seconds });
  if (reply.ok !== true)
    throw new LabError(`the ${link} delay line refused the burst: ${String(reply.error)}`);
}

export interface LabStatus {
  prefix: string;
  namespaces: Record<string, boolean>;
  profile: LabProfile | undefined;
  links: Record<string, { up: boolean; delayLine: Record<string, unknown> | string }>;
}

/** What exists of the lab: namespaces, link state and the delay lines' counters. */
export async function labStatus(prefix = DEFAULT_PREFIX): Promise<LabStatus> {
  checkPrefix(prefix);
  const present = new Set(existingNamespaces(prefix));
  const state = readState(prefix);
  const status: LabStatus = { prefix, namespaces: {}, profile: state?.profile, links: {} };
  for (const ns of NAMESPACES) status.namespaces[ns] = present.has(nsName(prefix, ns));
  for (const link of LINK_NAMES) {
    if (!present.has(nsName(prefix, link))) continue;
    const linkUp = run('ip', ['-n', nsName(prefix, link), '-o', 'link', 'show', 'dev', 'cpe']).includes(
      ',UP',
    );
    let delayLine: Record<string, unknown> | string = 'not running';
    if (state !== undefined) {
      try {
        delayLine = await control(state.delayLines[link].socket, { cmd: 'stats' }, 1000);
      } catch (e) {
        delayLine = `not answering: ${(e as Error).message}`;
      }
    }
    status.links[link] = { up: linkUp, delayLine };
  }
  return status;
}

/** Runs a command in a lab namespace with the caller's stdio; returns its exit code. */
export function labExec(prefix: string, ns: string, argv: string[]): number {
  checkPrefix(prefix);
  if (!(ALL_NAMESPACES as readonly string[]).includes(ns)) {
    throw new LabError(`unknown namespace "${ns}" (one of: ${ALL_NAMESPACES.join(', ')})`);
  }
  if (argv.length === 0) throw new LabError('exec: no command given');
  const full = nsName(prefix, ns as LabNamespace);
  if (!existingNamespaces(prefix).includes(full)) throw new LabError(`no namespace ${full}: is the lab up?`);
  const r = spawnSync('ip', ['netns', 'exec', full, ...argv], { stdio: 'inherit' });
  if (r.error) throw new LabError(`exec ${argv[0]}: ${r.error.message}`);
  return r.status ?? 128 + 9;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new LabError('the lab needs root (network namespaces, TUN devices): run it as root');
  }
}
