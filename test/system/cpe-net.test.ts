// The CPE's kernel plumbing (cpe/net) in namespaces this test creates: "lan" (a LAN host), "cpe",
// "core" (stands in for the userspace core behind the TUN: a veth whose far end sends from the core's
// private addresses), "isp" (the far end of dsl0 and lte0, with a server address on lo). Checks:
// setup twice leaves one copy of everything; LAN TCP to an address that does not exist reaches the
// transparent listener with the original destination (IPv4 and IPv6); a bypass destination reaches
// the real server, masqueraded on the primary uplink; UDP/443 is dropped while other UDP is NATed;
// each core address leaves by its own uplink; teardown (twice) leaves no table, rule or route.
// A second test replaces the veth stand-in by a real TUN (opened by a small python "core"): packets
// written into it leave by the uplink of their source address and the replies come back into it.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpeNetConfig } from '../../cpe/net/plan.js';
import { Netns } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';
import { stageCpe } from './lib/stage.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addon = join(repo, 'src/io/tun-tap/build/Release/tun_tap.node');

const stage = () => stageCpe('cpe-net-stage');

const n = 20 + Math.floor(Math.random() * 190);
const h = (k: number) => (n + k).toString(16);
const A = {
  lan: `198.18.${n}`,
  lan6: `2001:db8:${h(0)}:`,
  core: `198.19.${n}`,
  dsl: `198.18.${n + 1}`,
  dsl6: `2001:db8:${h(1)}:`,
  lte: `198.19.${n + 1}`,
  server: `198.18.${n + 2}.1`,
  server6: `2001:db8:${h(2)}::1`,
  ghost: `198.18.${n + 3}.5`,
  ghost6: `2001:db8:${h(3)}::5`,
};

let dist: string;
let work: string;
let ns: Netns;
let cfg: CpeNetConfig;
let listener: Lines | undefined;

/** A TCP and UDP server that tells each client the address it came from. UDP sockets are bound to
 * the server addresses (argv), so that replies leave from the address that was asked. */
const SERVER_PY = `
import socket, selectors, sys
sel = selectors.DefaultSelector()
for fam, host in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((host, 80)); t.listen(16); sel.register(t, selectors.EVENT_READ, 'tcp')
    for port in (53, 443):
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((host, port)); sel.register(u, selectors.EVENT_READ, 'udp')
print('ready', flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if key.data == 'tcp':
            c, peer = s.accept(); c.sendall(('real %s\\n' % peer[0]).encode()); c.close()
        else:
            data, peer = s.recvfrom(100); s.sendto(('udp %s %d\\n' % (peer[0], s.getsockname()[1])).encode(), peer)
`;

const TCP_PY = `import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(s.recv(200).decode().strip())`;

const UDP_PY = `import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(1.5)
if len(sys.argv) > 3: s.bind((sys.argv[3], 0))
s.sendto(b'x', (sys.argv[1], int(sys.argv[2])))
try: print(s.recv(200).decode().strip())
except socket.timeout: print('timeout')`;

const tcp = (from: string, addr: string, port = 80) =>
  ns.sh(from, `python3 ${join(work, 'tcp.py')} ${addr} ${port}`).trim();
const udp = (from: string, addr: string, port: number, src = '') =>
  ns.sh(from, `python3 ${join(work, 'udp.py')} ${addr} ${port} ${src}`).trim();
const net = (cmd: 'setup' | 'teardown') =>
  JSON.parse(
    ns
      .sh('cpe', `node ${join(dist, 'cpe/net/cli.js')} ${cmd} '${JSON.stringify(cfg)}'`)
      .trim()
      .split('\n')
      .pop()!,
  );
/** Everything of ours the kernel holds in the cpe namespace. */
const state = () => ({
  tables: ns.sh('cpe', 'nft list tables').trim(),
  rules4: ns.sh('cpe', 'ip rule show').trim(),
  rules6: ns.sh('cpe', 'ip -6 rule show').trim(),
  routes: [100, 201, 202]
    .map((t) =>
      ns
        .sh('cpe', `ip route show table ${t} 2>/dev/null; ip -6 route show table ${t} 2>/dev/null; true`)
        .trim(),
    )
    .join(''),
});

beforeAll(() => {
  if (!existsSync(addon)) throw new Error(`the TUN addon is not built (${addon}): run npm ci`);
  dist = stage();
  work = mkdtempSync(join(tmpdir(), 'cpe-net-work-'));
  writeFileSync(join(work, 'server.py'), SERVER_PY);
  writeFileSync(join(work, 'tcp.py'), TCP_PY);
  writeFileSync(join(work, 'udp.py'), UDP_PY);
  ns = new Netns('cn');
  for (const x of ['lan', 'cpe', 'core', 'isp']) ns.add(x);
  ns.veth('lan', 'eth0', 'cpe', 'lan0');
  ns.veth('core', 'eth0', 'cpe', 'core0');
  ns.veth('cpe', 'dsl0', 'isp', 'd0');
  ns.veth('cpe', 'lte0', 'isp', 'l0');
  ns.sh(
    'lan',
    `ip addr add ${A.lan}.2/24 dev eth0 && ip -6 addr add ${A.lan6}:2/64 dev eth0 nodad && ip route add default via ${A.lan}.1 && ip -6 route add default via ${A.lan6}:1`,
  );
  ns.sh(
    'core',
    `ip addr add ${A.core}.2/24 dev eth0 && ip addr add ${A.core}.3/24 dev eth0 && ip route add default via ${A.core}.1`,
  );
  ns.sh('cpe', `ip addr add ${A.lan}.1/24 dev lan0 && ip -6 addr add ${A.lan6}:1/64 dev lan0 nodad`);
  ns.sh(
    'cpe',
    `ip addr add ${A.dsl}.2/24 dev dsl0 && ip -6 addr add ${A.dsl6}:2/64 dev dsl0 nodad && ip addr add ${A.lte}.2/24 dev lte0`,
  );
  ns.sh('cpe', `ip route add default via ${A.dsl}.1 && ip -6 route add default via ${A.dsl6}:1`);
  ns.sh(
    'isp',
    `ip addr add ${A.dsl}.1/24 dev d0 && ip -6 addr add ${A.dsl6}:1/64 dev d0 nodad && ip addr add ${A.lte}.1/24 dev l0`,
  );
  ns.sh('isp', `ip addr add ${A.server}/32 dev lo && ip -6 addr add ${A.server6}/128 dev lo nodad`);
  cfg = {
    suffix: `_${ns.prefix}`,
    lan: { interface: 'lan0' },
    tproxy: { port: 15001 },
    bypass: { destinations: [`${A.server}/32`] },
    quic: 'drop',
    primary: 'dsl0',
    uplinks: [
      { name: 'dsl', interface: 'dsl0', table: 201, gateway: `${A.dsl}.1`, coreAddresses: [`${A.core}.2`] },
      { name: 'lte', interface: 'lte0', table: 202, gateway: `${A.lte}.1`, coreAddresses: [`${A.core}.3`] },
    ],
    tun: { interface: 'core0', addresses: [`${A.core}.1/24`] },
  };
}, 60_000);

let serverStarted = false;
/** The isp namespace's TCP/UDP server (once per file). */
async function startServer(): Promise<void> {
  if (serverStarted) return;
  serverStarted = true;
  const server = lines(ns.spawn('isp', ['python3', join(work, 'server.py'), A.server, A.server6]));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      clearInterval(check);
      reject(new Error(`server did not start: ${server.stderr.join('\n')}`));
    }, 10_000);
    const check = setInterval(() => {
      if (server.stderr.includes('ready')) {
        clearTimeout(t);
        clearInterval(check);
        resolve();
      }
    }, 50);
  });
}

afterAll(() => {
  try {
    if (ns && cfg) net('teardown');
  } catch {
    /* the namespaces go anyway */
  }
  ns?.cleanup();
  if (dist) rmSync(dist, { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('CPE network setup, TPROXY interception, NAT, policy routing, teardown', () => {
  it('setup twice keeps one copy; TPROXY sees original destinations; bypass, QUIC, NAT and per-uplink routing work; teardown leaves nothing', async () => {
    await startServer();
    const baseline = state();
    expect(baseline.tables).toBe('');

    expect(net('setup')).toMatchObject({ ok: true });
    const once1 = state();
    expect(net('setup')).toMatchObject({ ok: true }); // as after a crash: leftovers replaced
    const twice = state();
    expect(twice).toEqual(once1);
    expect(twice.tables).toBe(`table inet hybrid_access_${ns.prefix}`);
    expect(twice.rules4.split('\n').filter((l) => l.includes('lookup 201'))).toHaveLength(2); // from + oif

    listener = lines(
      ns.spawn('cpe', ['node', join(dist, 'cpe/net/cli.js'), 'listen', JSON.stringify({ port: 15001 })], {
        env: { ...process.env, HYBRID_ACCESS_TUN_ADDON: addon },
      }),
    );
    await once(listener, (l) => l.ev === 'listening', 10_000);

    // LAN TCP to addresses that exist nowhere: the listener accepts them as those addresses.
    expect(tcp('lan', A.ghost)).toBe(`intercepted ${A.ghost} 80`);
    const acc4 = await once(listener, (l) => l.ev === 'accepted', 5_000);
    expect(acc4.destination).toEqual({ address: A.ghost, port: 80, family: 4 });
    expect((acc4.source as { address: string }).address).toBe(`${A.lan}.2`);
    expect(tcp('lan', A.ghost6, 8080)).toBe(`intercepted ${A.ghost6} 8080`);
    const acc6 = await once(
      listener,
      (l) => l.ev === 'accepted' && (l.destination as { family: number }).family === 6,
      5_000,
    );
    expect(acc6.destination).toEqual({ address: A.ghost6, port: 8080, family: 6 });
    expect((acc6.source as { address: string }).address).toBe(`${A.lan6}:2`);

    // A bypass destination reaches the real server, masqueraded on the primary uplink; the same
    // server's IPv6 address is not bypassed and is intercepted.
    expect(tcp('lan', A.server)).toBe(`real ${A.dsl}.2`);
    expect(tcp('lan', A.server6)).toBe(`intercepted ${A.server6} 80`);
    // The CPE's own address is never intercepted (nothing listens on :80 there: refused).
    expect(() => tcp('lan', `${A.lan}.1`)).toThrow(/Connection refused/);

    // Non-TCP: UDP/443 (QUIC) dropped, other UDP NATed on the primary uplink.
    expect(udp('lan', A.server, 443)).toBe('timeout');
    expect(udp('lan', A.server, 53)).toBe(`udp ${A.dsl}.2 53`);
    expect(ns.sh('cpe', `nft list chain inet hybrid_access_${ns.prefix} forward`)).toMatch(
      /counter packets [1-9]/,
    );

    // The core's private addresses leave by their own uplinks, masqueraded there.
    expect(udp('core', A.server, 53, `${A.core}.2`)).toBe(`udp ${A.dsl}.2 53`);
    expect(udp('core', A.server, 53, `${A.core}.3`)).toBe(`udp ${A.lte}.2 53`);

    // Set up again with QUIC passed: the ruleset is replaced and UDP/443 goes through.
    cfg = { ...cfg, quic: 'pass' };
    expect(net('setup')).toMatchObject({ ok: true });
    expect(udp('lan', A.server, 443)).toBe(`udp ${A.dsl}.2 443`);
    expect(state()).toEqual(twice);

    // Teardown (twice: the second finds nothing and still succeeds) restores the baseline.
    expect(net('teardown')).toMatchObject({ ok: true });
    expect(net('teardown')).toMatchObject({ ok: true });
    expect(state()).toEqual(baseline);
    // And interception is really gone: the ghost address is now routed out (and unanswered).
    expect(() => ns.sh('lan', `python3 ${join(work, 'tcp.py')} ${A.ghost} 80`, 15_000)).toThrow();
  }, 120_000);

  it('packets from the core through a real TUN leave by the uplink of their source address and the replies come back into the TUN', async () => {
    await startServer();
    const c = `198.19.${n + 4}`;
    const tunCfg: CpeNetConfig = {
      ...cfg,
      uplinks: [
        { ...cfg.uplinks[0], coreAddresses: [`${c}.2`] },
        { ...cfg.uplinks[1], coreAddresses: [`${c}.3`] },
      ],
      tun: { interface: 'cpe0', addresses: [`${c}.1/24`] },
    };
    // The stand-in core: opens TUN cpe0 (IFF_TUN | IFF_NO_PI) and, per stdin line "<src>", writes one
    // UDP packet from <src> to the server's port 53 and prints the payload of the packet that comes
    // back to <src> through the TUN.
    writeFileSync(
      join(work, 'tuncore.py'),
      `import fcntl, os, select, socket, struct, sys
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', b'cpe0', 0x0001 | 0x1000))
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s > 0xffff: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
print('ready', flush=True)
for line in sys.stdin:
    src = line.strip()
    udp = struct.pack('!HHHH', 40000, 53, 9, 0) + b'x'
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(sys.argv[1]))
    hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
    os.write(fd, hdr + udp)
    got = 'timeout'
    while select.select([fd], [], [], 2)[0]:
        p = os.read(fd, 2000)
        if p[0] >> 4 == 4 and p[9] == 17 and socket.inet_ntoa(p[16:20]) == src:
            got = p[28:].decode().strip(); break
    print(got, flush=True)
`,
    );
    const core = ns.spawn('cpe', ['python3', join(work, 'tuncore.py'), A.server], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: string[] = [];
    createInterface({ input: core.stdout! }).on('line', (l) => out.push(l.trim()));
    const waitLine = async (k: number) => {
      for (let i = 0; i < 100 && out.length < k; i++) await new Promise((r) => setTimeout(r, 50));
      return out[k - 1];
    };
    expect(await waitLine(1)).toBe('ready');
    cfg = tunCfg;
    expect(net('setup')).toMatchObject({ ok: true });
    expect(ns.sh('cpe', 'ip -4 addr show dev cpe0')).toContain(`${c}.1/24`);
    core.stdin!.write(`${c}.2\n`);
    expect(await waitLine(2)).toBe(`udp ${A.dsl}.2 53`);
    core.stdin!.write(`${c}.3\n`);
    expect(await waitLine(3)).toBe(`udp ${A.lte}.2 53`);
    // A source that no rule knows takes the main table (default via dsl) and is not masqueraded, so
    // the server's reply has no way back: nothing arrives.
    core.stdin!.write(`${c}.9\n`);
    expect(await waitLine(4)).toBe('timeout');
    expect(net('teardown')).toMatchObject({ ok: true });
    core.kill('SIGKILL');
  }, 60_000);
});
