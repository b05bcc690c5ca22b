// The CPE daemon end to end, in network namespaces this test creates (all removed in afterAll):
//   lan (udhcpc takes 198.18.5.x from our DHCP server) ── cpe (the daemon: lan0, dsl0, lte0, TUN
//   cpe0 with core addresses 198.18.200.2/.3) ══ two veth links, tbf-shaped ══ h (router and the
//   real HAG daemon, service address 198.18.100.1) ── s (python3 http.server 198.18.3.2:8000)
// (a) 1 MB, then 50 MB over both uplinks, sha256 equal, per-uplink counters from /status.json > 0;
// IPv6 from the LAN (2001:db8:5::/64) to an IPv6 server; (b) lte0 taken down mid-download: the
// download completes; (c) the HAG stopped: a new connection goes direct via the primary uplink, and
// bonding returns with the HAG; (d) a refusing server is a refusal to the LAN host; half-close both
// ways; resets both ways; (f) SIGHUP switches to SOCKS5 with credentials and back; (g) a quota used
// up makes lte backup-only, and the status page in Chromium shows lte down with its reason and the
// quota bar; (h) ICMP is NATed on dsl and a bypass port is not intercepted; (i) the
// status page in headless Chromium; (e) an invalid reload is kept out, SIGTERM drains (new
// connections go NATed meanwhile), resets what is left, removes the table, rules, routes and TUN.
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFlags } from '../../scripts/lib/node-flags.js';
import { needChromium, type PageSeen, pageInChromium } from './lib/chromium.js';
import { type RunningDaemon, spawnDaemon, startDaemon, started } from './lib/daemon-in-netns.js';
import { compileTree } from './lib/lab-run.js';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';

const ROOT = join(import.meta.dirname, '../..');
const HAG = '198.18.100.1';
const SERVER = '198.18.3.2';
const SERVER6 = '2001:db8:3::2';

/** TCP tools for the LAN host and the server: half-close, resets (written into the work folder). */
const TCP_TOOLS = `import hashlib, socket, struct, sys, threading
def serve(port, fam, addr):
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port)); srv.listen(64)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c, port), daemon=True).start()
def handle(c, port):
    try:
        if port == 9000:  # read to EOF, then answer: half-close from the client
            h = hashlib.sha256(); n = 0
            while True:
                d = c.recv(65536)
                if not d: break
                h.update(d); n += len(d)
            c.sendall(f"got {n} {h.hexdigest()}\\n".encode()); c.close()
        elif port == 9001:  # read a little, then reset
            c.recv(10)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()
        elif port == 9002:  # send, half-close, keep reading until the client is done
            c.sendall(b'x' * 100000); c.shutdown(socket.SHUT_WR)
            n = 0
            while True:
                d = c.recv(65536)
                if not d: break
                n += len(d)
            print(f"9002 received {n}", flush=True); c.close()
    except Exception as e:
        print(f"server error {e!r}", flush=True)
mode = sys.argv[1]
if mode == 'server':
    addr = sys.argv[2]
    for p in (9000, 9001, 9002):
        threading.Thread(target=serve, args=(p, socket.AF_INET, addr), daemon=True).start()
    print("ready", flush=True); threading.Event().wait()
elif mode == 'halfclose':  # send N bytes, shut down writing, read the answer
    n = int(sys.argv[3]); data = bytes(range(256)) * (n // 256)
    s = socket.create_connection((sys.argv[2], 9000), timeout=30); s.sendall(data); s.shutdown(socket.SHUT_WR)
    out = b''
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
    print(out.decode().strip(), hashlib.sha256(data).hexdigest())
elif mode == 'reverse':  # the server half-closes first; we still send to it
    s = socket.create_connection((sys.argv[2], 9002), timeout=30); n = 0
    while True:
        d = s.recv(65536)
        if not d: break
        n += len(d)
    s.sendall(b'y' * 50000); s.close(); print(f"received {n}")
elif mode == 'reset-by-server':
    s = socket.create_connection((sys.argv[2], 9001), timeout=30); s.sendall(b'hello')
    try:
        print('data', s.recv(100))
    except ConnectionResetError:
        print('reset')
elif mode == 'reset-by-client':
    s = socket.create_connection((sys.argv[2], 9000), timeout=30); s.sendall(b'abc')
    import time; time.sleep(0.5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close(); print('sent reset')
`;
const MB = 1_000_000;

let ns: Netns;
let work: string;
let dist: string;
let suffix: string;
let hag: RunningDaemon | undefined;
let cpe: RunningDaemon | undefined;
let clientIp = '';
let serverTools: Lines;

function lanTool(args: string): string {
  return ns.sh('lan', `python3 ${work}/tcp_tools.py ${args}`, 60_000).trim();
}
const sha: Record<string, string> = {};

function hagConfig(): string {
  return `# written by test/system/cpe-daemon.test.ts
tun: {name: hag0}
service:
  addresses: [${HAG}]
  convert: {port: 5124}
  socks: {port: 1080, users: [{username: cpe1, password: s3cret}]}
egress: {source4: 198.18.3.1, source6: '2001:db8:3::1', connectTimeout: 3s}
access:
  subscribers: [198.18.11.0/24, 198.18.12.0/24]
  allowDestinations: [198.18.0.0/15, "2001:db8::/32"] # the test hosts' ranges
  rateLimit: {perSecond: 1000, burst: 2000}
limits: {drainTimeout: 1s}
log: {level: info, connections: true}
`;
}

function cpeConfig(hagPart = 'port: 5124', lteExtra = '', extra = ''): string {
  return `# written by test/system/cpe-daemon.test.ts
lan:
  interface: lan0
  addresses: [198.18.5.1/24, '2001:db8:5::1/64']
  dhcp:
    ranges: [{start: 198.18.5.100, end: 198.18.5.150}]
    leaseTime: 10m
    leaseFile: ${work}/leases.json
state: {directory: ${work}/state}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, role: primary,
     capacity: 40Mbit, probe: {interval: 300ms, timeout: 300ms, failures: 3, successes: 2}}
  - {name: lte, interface: lte0, address: 198.18.12.2/24, gateway: 198.18.12.1, role: overflow,
     capacity: 30Mbit, probe: {interval: 300ms, timeout: 300ms, failures: 3, successes: 2}${lteExtra}}
hag:
  addresses: [${HAG}]
  ${hagPart}
  connectTimeout: 2s
  retryAfter: 1s
tun: {name: cpe0, prefix: 198.18.200.0/24}
intercept: {port: 7070, suffix: ${suffix}}
status: {address: 198.18.5.1, port: 8080}
drainTimeout: 2s
log: {level: info, connections: true}
${extra}`;
}

function startHag(): Promise<RunningDaemon> {
  hag = spawnDaemon(ns, 'h', 'hag', dist, join(work, 'hag.yaml'));
  return started(hag);
}

function status(): {
  uplinks: {
    name: string;
    bytesIn: number;
    bytesOut: number;
    usable: boolean;
    health: string;
    subflows: number;
    backup: boolean;
  }[];
  hag: { state: string };
  connections: Record<string, unknown>;
} {
  return JSON.parse(ns.sh('lan', 'curl -sS --max-time 5 http://198.18.5.1:8080/status.json'));
}

/** The status page in headless Chromium from the LAN namespace (lib/chromium.ts). */
function statusPage(shotName: string, ready: string): Promise<PageSeen> {
  return pageInChromium({ netns: ns.name('lan'), url: 'http://198.18.5.1:8080/', ready, shotName, work });
}

/** Downloads /name from the server in the lan namespace; returns curl's exit code and output. */
function download(name: string, opts: { background?: boolean; maxTime?: number } = {}) {
  const cmd = `curl -sS --max-time ${opts.maxTime ?? 90} http://${SERVER}:8000/${name} -o ${work}/got-${name} -w '%{http_code} %{size_download} %{time_total}'`;
  return ns.spawn('lan', ['sh', '-c', cmd]);
}

async function finished(
  p: ChildProcess,
  timeoutMs: number,
): Promise<{ rc: number; out: string; err: string }> {
  let out = '';
  let err = '';
  p.stdout?.on('data', (d) => {
    out += d;
  });
  p.stderr?.on('data', (d) => {
    err += d;
  });
  const rc = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`curl did not finish within ${timeoutMs} ms`)), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve(code ?? -1);
    });
  });
  return { rc, out, err };
}

function fileSha(name: string): string {
  return createHash('sha256')
    .update(readFileSync(join(work, `got-${name}`)))
    .digest('hex');
}

beforeAll(async () => {
  ns = new Netns('cpd');
  suffix = `_t${ns.prefix.slice(3)}`;
  work = mkdtempSync(join(tmpdir(), 'cpe-daemon-test-'));
  dist = join(work, 'dist');
  compileTree(dist);
  for (const [name, size] of [
    ['file1', 1 * MB],
    ['file50', 50 * MB],
  ] as const) {
    const data = randomBytes(size);
    writeFileSync(join(work, name), data);
    sha[name] = createHash('sha256').update(data).digest('hex');
  }
  for (const n of ['lan', 'cpe', 'h', 's']) ns.add(n);
  ns.veth('lan', 'eth0', 'cpe', 'lan0');
  ns.veth('cpe', 'dsl0', 'h', 'd1');
  ns.veth('cpe', 'lte0', 'h', 'l1');
  ns.veth('h', 'hs', 's', 's0');
  ns.sh(
    'cpe',
    [
      'sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0',
      'ip addr add 198.18.11.2/24 dev dsl0',
      'ip addr add 198.18.12.2/24 dev lte0',
    ].join(' && '),
  );
  ns.sh(
    'h',
    [
      'sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0',
      'ip addr add 198.18.11.1/24 dev d1',
      'ip addr add 198.18.12.1/24 dev l1',
      'ip addr add 198.18.3.1/24 dev hs',
      // The download direction of each access link, shaped (tbf: rate, ~50 ms of queue).
      'tc qdisc add dev d1 root tbf rate 40mbit burst 15000 limit 250000',
      'tc qdisc add dev l1 root tbf rate 30mbit burst 15000 limit 190000',
    ].join(' && '),
  );
  ns.sh('h', 'sysctl -qw net.ipv6.conf.all.forwarding=1 && ip -6 addr add 2001:db8:3::1/64 dev hs nodad');
  ns.sh('s', 'ip addr add 198.18.3.2/24 dev s0 && ip route add default via 198.18.3.1');
  ns.sh('s', 'ip -6 addr add 2001:db8:3::2/64 dev s0 nodad && ip -6 route add default via 2001:db8:3::1');
  ns.sh('lan', 'ip -6 addr add 2001:db8:5::2/64 dev eth0 nodad && ip -6 route add default via 2001:db8:5::1');
  // The server's access log (stderr) shows who connected: the HAG's egress, or an uplink (bypass).
  ns.spawn('s', [
    'sh',
    '-c',
    `exec python3 -m http.server 8000 --bind ${SERVER} --directory ${work} 2>>${work}/http-server.log`,
  ]);
  ns.spawn('s', ['python3', '-m', 'http.server', '8001', '--bind', SERVER6, '--directory', work]);
  writeFileSync(join(work, 'tcp_tools.py'), TCP_TOOLS);
  const tools = lines(ns.spawn('s', ['python3', join(work, 'tcp_tools.py'), 'server', SERVER]));
  serverTools = tools;
  await waitFor('tcp tools ready', () => tools.stderr.includes('ready'), 10_000);
  ns.sh(
    's',
    `for i in $(seq 100); do curl -s -o /dev/null http://${SERVER}:8000/ && exit 0; sleep 0.1; done; exit 1`,
  );

  writeFileSync(join(work, 'hag.yaml'), hagConfig());
  await startHag();

  writeFileSync(join(work, 'cpe.yaml'), cpeConfig());
  // The V8 flags of the one-file build's launcher (cpe/deploy/node-flags): run as deployed.
  const flags = nodeFlags(ROOT, 'cpe').split(' ');
  cpe = await startDaemon(ns, 'cpe', 'cpe', dist, join(work, 'cpe.yaml'), flags);

  // The LAN host takes its address from our DHCP server.
  const script = join(work, 'udhcpc.sh');
  writeFileSync(
    script,
    `#!/bin/sh
case "$1" in
  bound|renew) ip addr replace "$ip/$mask" dev "$interface"; ip route replace default via "$router" dev "$interface"; echo "$ip" > ${work}/lan-ip ;;
  deconfig) ip -4 addr flush dev "$interface" ;;
esac
`,
    { mode: 0o755 },
  );
  ns.sh('lan', `udhcpc -q -n -i eth0 -s ${script} -t 10 -T 1 -A 1`, 30_000);
  clientIp = readFileSync(join(work, 'lan-ip'), 'utf8').trim();
  // Both uplinks probed up.
  await waitFor('both uplinks up', () => status().uplinks.every((u) => u.health === 'up'), 10_000, 200);
}, 180_000);

afterAll(() => {
  try {
    if (cpe && cpe.l.exited === null) cpe.p.kill('SIGKILL');
  } finally {
    ns?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  }
});

describe('CPE daemon: LAN host -> CPE -> HAG -> server', () => {
  it('the LAN host got its address from the CPE DHCP server', () => {
    expect(clientIp).toMatch(/^198\.18\.5\.(1[0-4]\d|150)$/);
    const leases = JSON.parse(readFileSync(join(work, 'leases.json'), 'utf8'));
    expect(JSON.stringify(leases)).toContain(clientIp);
  });

  it('(a) 1 MB bonded through the HAG, sha256 equal', async () => {
    const r = await finished(download('file1'), 60_000);
    expect(r.rc, r.err).toBe(0);
    expect(r.out.split(' ')[0]).toBe('200');
    expect(fileSha('file1')).toBe(sha.file1);
    const open = await once(cpe!.l, (l) => l.event === 'open' && l.dst === `${SERVER}:8000`, 5000);
    expect(open.path).toBe('bonded');
  }, 90_000);

  it('(a) 50 MB over both uplinks: per-uplink counters above zero, sha256 equal', async () => {
    const before = status().uplinks;
    const r = await finished(download('file50'), 120_000);
    expect(r.rc, r.err).toBe(0);
    expect(fileSha('file50')).toBe(sha.file50);
    await new Promise((res) => setTimeout(res, 1200)); // one counter tick
    const after = status().uplinks;
    const delta = after.map((u, i) => ({ name: u.name, bytesIn: u.bytesIn - before[i].bytesIn }));
    process.stdout.write(`50 MB: curl ${r.out}; per-uplink bytes in: ${JSON.stringify(delta)}\n`);
    for (const d of delta) expect(d.bytesIn, JSON.stringify(delta)).toBeGreaterThan(5 * MB);
    const close = await once(
      cpe!.l,
      (l) => l.event === 'close' && (l.bytesToLan as number) > 50 * MB,
      10_000,
    );
    const per = close.uplinks as Record<string, { bytesIn: number }>;
    expect(per.dsl.bytesIn).toBeGreaterThan(0);
    expect(per.lte.bytesIn).toBeGreaterThan(0);
  }, 150_000);

  it('(a) Convert with TCP Fast Open: after the first connection to the HAG asked for a cookie, the Connect TLV rides in the SYN (0-RTT)', () => {
    // LAN connections (MPTCP), not the CPE's checks of the HAG over each uplink (plain TCP).
    const opens = hag!.l.seen.filter((l) => l.event === 'open' && l.proto === 'convert' && l.mptcp === true);
    process.stdout.write(`HAG opens (fastOpen): ${JSON.stringify(opens.map((l) => l.fastOpen))}\n`);
    expect(opens.length).toBeGreaterThanOrEqual(2);
    expect(opens[0].fastOpen).toBe('requested');
    expect(opens.slice(1).every((l) => l.zeroRtt === true)).toBe(true);
  });

  it('(i) the status page in headless Chromium shows both uplinks with throughput during a transfer', async () => {
    needChromium();
    const done = finished(download('file50'), 120_000);
    await new Promise((res) => setTimeout(res, 1500));
    // The page polls: wait until both uplink cards show a throughput.
    const dom = await statusPage(
      'cpe-status-page.png',
      `['dsl', 'lte'].every((n) => /^(?!0(\\.0+)? )[\\d.]+ (k|M)bit\\/s in/.test(document.querySelector('#u-' + n + ' .tp')?.textContent ?? ''))`,
    );
    const r = await done;
    expect(r.rc, r.err).toBe(0);
    // Both uplink cards, each with a throughput above zero (the cell reads "12.3 Mbit/s in, ...").
    for (const name of ['dsl', 'lte']) {
      const card = new RegExp(`id="u-${name}"[\\s\\S]*?class="tp">([\\d.]+) (k|M)bit/s in`).exec(dom.html);
      expect(card, `card ${name} in ${dom.html.slice(0, 3000)}`).not.toBeNull();
      expect(Number(card?.[1])).toBeGreaterThan(0);
    }
    expect(dom.html).toContain('bonding');
  }, 900_000);

  it('(b) lte0 taken down mid-download: the download completes, sha256 equal', async () => {
    const lteBytes = () => status().uplinks.find((u) => u.name === 'lte')?.bytesIn ?? 0;
    const before = lteBytes();
    const p = download('file50');
    const done = finished(p, 120_000);
    await new Promise((res) => setTimeout(res, 2000));
    // lte carries part of this download before it goes away.
    expect(lteBytes() - before).toBeGreaterThan(MB);
    ns.sh('cpe', 'ip link set lte0 down');
    await waitFor(
      'lte probed down',
      () => status().uplinks.find((u) => u.name === 'lte')?.health === 'down',
      10_000,
      200,
    );
    const r = await done;
    expect(r.rc, r.err).toBe(0);
    expect(fileSha('file50')).toBe(sha.file50);
    const down = cpe!.l.seen.find((l) => l.event === 'uplink-down' && l.uplink === 'lte');
    expect(down).toBeDefined();
    process.stdout.write(`lte down mid-download: curl ${r.out}\n`);
    // The uplink returns: its route is restored and it is probed up again.
    ns.sh('cpe', 'ip link set lte0 up');
    await waitFor(
      'lte probed up',
      () => status().uplinks.find((u) => u.name === 'lte')?.health === 'up',
      15_000,
      200,
    );
  }, 150_000);

  it('(d) a server port that refuses: the LAN host sees a refusal', async () => {
    const r = await finished(
      ns.spawn('lan', ['sh', '-c', `curl -sS --max-time 20 http://${SERVER}:9/`]),
      30_000,
    );
    expect(r.rc).not.toBe(0);
    expect(r.err).toMatch(/reset|refused|Recv failure/i);
    const refused = await once(cpe!.l, (l) => l.event === 'refused' && l.dst === `${SERVER}:9`, 5000);
    expect(String(refused.reason)).toMatch(/Convert error 96/);
  }, 60_000);

  it('(a) IPv6: the LAN host downloads from an IPv6 server through the HAG', async () => {
    const cmd = `curl -sS --max-time 60 'http://[${SERVER6}]:8001/file1' -o ${work}/got-v6 -w '%{http_code}'`;
    const r = await finished(ns.spawn('lan', ['sh', '-c', cmd]), 60_000);
    if (r.rc !== 0) {
      process.stdout.write(
        `DEBUG ${JSON.stringify(cpe!.l.seen.slice(-8))}\n${ns.sh('lan', 'ip -6 addr; ip -6 route; ip -6 neigh')}\n${ns.sh('cpe', 'ip -6 addr show dev lan0; ip -6 rule; ip -6 route show table 100; nft list ruleset | head -40; ss -ltnp')}\n`,
      );
    }
    expect(r.rc, r.err).toBe(0);
    expect(
      createHash('sha256')
        .update(readFileSync(join(work, 'got-v6')))
        .digest('hex'),
    ).toBe(sha.file1);
    const open = await once(cpe!.l, (l) => l.event === 'open' && l.dst === `[${SERVER6}]:8001`, 5000);
    expect(open.path).toBe('bonded');
    expect(open.src).toMatch(/^\[2001:db8:5::2\]:/);
  }, 90_000);

  it('(d) half-close both ways: data keeps flowing the other way after a FIN', () => {
    const [got, n, digest, want] = lanTool(`halfclose ${SERVER} 2000000`).split(' ');
    expect(got).toBe('got');
    expect(Number(n)).toBe(1_999_872);
    expect(digest).toBe(want);
    expect(lanTool(`reverse ${SERVER}`)).toBe('received 100000');
    return waitFor('server got the client data after its own FIN', () =>
      serverTools.stderr.some((l) => l === '9002 received 50000'),
    );
  }, 60_000);

  it('(d) resets both ways: a server reset reaches the LAN host, a LAN reset closes the session', async () => {
    expect(lanTool(`reset-by-server ${SERVER}`)).toBe('reset');
    expect(lanTool(`reset-by-client ${SERVER}`)).toBe('sent reset');
    await once(
      cpe!.l,
      (l) => l.event === 'close' && l.dst === `${SERVER}:9000` && l.reason === 'lan-reset',
      5000,
    );
    await once(
      cpe!.l,
      (l) => l.event === 'close' && l.dst === `${SERVER}:9001` && l.reason === 'upstream-reset',
      5000,
    );
  }, 60_000);

  it('(f) SIGHUP: SOCKS5 with credentials to the HAG, then back to Convert', async () => {
    writeFileSync(
      join(work, 'cpe.yaml'),
      cpeConfig('port: 1080\n  method: socks5\n  username: cpe1\n  password: s3cret'),
    );
    const n = cpe!.l.seen.filter((l) => l.event === 'reloaded').length;
    cpe!.p.kill('SIGHUP');
    await waitFor('reloaded', () => cpe!.l.seen.filter((l) => l.event === 'reloaded').length > n, 5000);
    const r = await finished(download('file1'), 60_000);
    expect(r.rc, r.err).toBe(0);
    expect(fileSha('file1')).toBe(sha.file1);
    await once(
      hag!.l,
      (l) => l.event === 'close' && l.proto === 'socks' && (l.bytesDown as number) > MB,
      5000,
    );
    // A wrong password: the HAG refuses the credentials, the CPE goes direct and says why.
    writeFileSync(
      join(work, 'cpe.yaml'),
      cpeConfig('port: 1080\n  method: socks5\n  username: cpe1\n  password: wrong'),
    );
    cpe!.p.kill('SIGHUP');
    await waitFor('reloaded', () => cpe!.l.seen.filter((l) => l.event === 'reloaded').length > n + 1, 5000);
    const r2 = await finished(download('file1'), 60_000);
    expect(r2.rc, r2.err).toBe(0);
    const down = await once(cpe!.l, (l) => l.event === 'hag-down', 5000);
    expect(String(down.reason)).toMatch(/credentials/);
    writeFileSync(join(work, 'cpe.yaml'), cpeConfig());
    cpe!.p.kill('SIGHUP');
    await waitFor('HAG up again over Convert', () => status().hag.state === 'up', 15_000, 200);
  }, 120_000);

  it('(g) a used-up quota (reloaded): lte becomes backup-only and dsl carries the next download', async () => {
    writeFileSync(join(work, 'cpe.yaml'), cpeConfig(undefined, ', quota: {bytes: 5MB, period: day}'));
    const reloads = cpe!.l.seen.filter((l) => l.event === 'reloaded').length;
    cpe!.p.kill('SIGHUP');
    await waitFor('reloaded', () => cpe!.l.seen.filter((l) => l.event === 'reloaded').length > reloads, 5000);
    // Standing alone: whatever earlier cases carried over lte (a quota added by a reload counts from
    // the daemon's start), a bonded 50 MB download takes lte past 5 MB.
    const first = await finished(download('file50'), 120_000);
    expect(first.rc, first.err).toBe(0);
    const q = await once(cpe!.l, (l) => l.event === 'quota-exceeded' && l.uplink === 'lte', 5000);
    expect(q.quota).toBe(5_000_000);
    const st = JSON.parse(ns.sh('lan', 'curl -sS --max-time 5 http://198.18.5.1:8080/status.json'));
    const lte = st.uplinks.find((u: { name: string }) => u.name === 'lte');
    expect(lte.backup).toBe(true);
    expect(lte.quota).toMatchObject({ bytes: 5_000_000, period: 'day', exceeded: true });
    const before = status().uplinks;
    const r = await finished(download('file50'), 120_000);
    expect(r.rc, r.err).toBe(0);
    expect(fileSha('file50')).toBe(sha.file50);
    await new Promise((res) => setTimeout(res, 1200));
    const after = status().uplinks;
    const d = after.map((u, i) => u.bytesIn - before[i].bytesIn);
    process.stdout.write(`quota used up on lte: curl ${r.out}; bytes in dsl ${d[0]}, lte ${d[1]}\n`);
    expect(d[0]).toBeGreaterThan(45 * MB);
    expect(d[1]).toBeLessThan(2 * MB);
    // The status page in Chromium with lte taken down: its card says down and why, and shows its
    // quota bar used up; the page has the uptime and the LAN host's DHCP lease.
    ns.sh('cpe', 'ip link set lte0 down');
    const lteStatus = () =>
      status().uplinks.find((u) => u.name === 'lte') as unknown as Record<string, unknown>;
    await waitFor('lte probed down', () => lteStatus().state === 'down', 10_000, 200);
    const reason = String(lteStatus().reason);
    expect(reason).not.toBe('ok');
    const page = await statusPage(
      'cpe-status-page-down.png',
      `/down/.test(document.querySelector('#u-lte .state')?.textContent ?? '') && !!document.querySelector('#u-lte [role=progressbar]')`,
    );
    process.stdout.write(`lte card: ${JSON.stringify(page.cards.lte)}\n`);
    expect(page.cards.lte).toMatch(/^lte \(lte0, overflow\) down\n/);
    expect(page.cards.lte).toContain(`why: ${reason}: `);
    expect(page.cards.lte).toMatch(/capacity\s+30 Mbit\/s/);
    expect(page.cards.lte).toMatch(
      /quota\s+[\d.]+ (MB|GB) of 5\.0 MB \(100%\) this day since \d{4}-\d\d-\d\d 00:00, used up: backup only; resets \d{4}-\d\d-\d\d 00:00/,
    );
    expect(page.html).toContain(
      'aria-label="lte quota used" aria-valuemin="0" aria-valuemax="5000000" aria-valuenow="5000000"',
    );
    expect(page.cards.dsl).toMatch(/MPTCP\s+/);
    expect(page.text).toMatch(/\bup \d+ (s|min)/);
    expect(page.text).toMatch(
      new RegExp(`DHCP leases \\(1\\)[\\s\\S]*${clientIp.replace(/\./g, '\\.')}\\s+in \\d+ min`),
    );
    ns.sh('cpe', 'ip link set lte0 up');
    await waitFor('lte probed up', () => lteStatus().state !== 'down', 15_000, 200);
    writeFileSync(join(work, 'cpe.yaml'), cpeConfig());
    cpe!.p.kill('SIGHUP');
    await waitFor('lte not backup', () => status().uplinks[1].backup === false, 5000);
  }, 900_000);

  it('(h) non-TCP leaves NATed by the primary uplink; a bypass port (reloaded) is not intercepted', async () => {
    // ICMP from the LAN host: forwarded by the kernel, masqueraded on dsl.
    const ping = ns.sh('lan', `ping -c 3 -W 2 ${SERVER} || true`);
    expect(ping, ping).toMatch(/ [1-3] received/);
    writeFileSync(join(work, 'cpe.yaml'), cpeConfig(undefined, '', 'bypass: {ports: [8000]}\n'));
    const bypassSet = () => ns.sh('cpe', `nft list set inet hybrid_access${suffix} bypass_ports`);
    cpe!.p.kill('SIGHUP');
    // Waiting on the effect, not on a log line (an earlier test's reload line may still be in flight).
    await waitFor('bypass port 8000 in place', () => bypassSet().includes('8000'), 5000, 100);

    const opens = cpe!.l.seen.filter((l) => l.event === 'open').length;
    const accessLog = () => readFileSync(join(work, 'http-server.log'), 'utf8');
    const mark = accessLog().length;
    const r = await finished(download('file1'), 60_000);
    expect(r.rc, r.err).toBe(0);
    expect(fileSha('file1')).toBe(sha.file1);
    await new Promise((res) => setTimeout(res, 300));
    expect(cpe!.l.seen.filter((l) => l.event === 'open').length).toBe(opens);
    // The server saw the dsl uplink's address (masquerade), not the LAN host's.
    await waitFor(
      'the bypassed request in the access log',
      () => /^198\.18\.11\.2 .*GET \/file1/m.test(accessLog().slice(mark)),
      5000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}: ${accessLog().split('\n').slice(-4).join(' | ')}`);
    });
    writeFileSync(join(work, 'cpe.yaml'), cpeConfig());
    cpe!.p.kill('SIGHUP');
    await waitFor('bypass port 8000 gone', () => !bypassSet().includes('8000'), 5000, 100);
    // A reload replaces the nftables table only: policy routing is untouched.
    const rules = ns.sh('cpe', 'ip rule');
    for (const r of ['fwmark 0x1 lookup 100', 'from 198.18.200.2 lookup 200', 'iif lan0 lookup 200'])
      expect(rules, rules).toContain(r);
  }, 60_000);

  it('(c) the HAG stopped: a new connection goes direct via dsl; bonding returns with the HAG', async () => {
    hag!.p.kill('SIGTERM');
    await waitFor('HAG exit', () => hag!.l.exited !== null, 15_000);
    const seen = cpe!.l.seen.length;
    const r = await finished(download('file1'), 60_000);
    if (r.rc !== 0)
      process.stdout.write(
        `DEBUG ${JSON.stringify(cpe!.l.seen.slice(-12).map((l) => [new Date(l.time as number).toISOString(), l.event]))}\n${ns.sh('cpe', 'ip rule; ip route show table 100; ip route show table 200; nft list ruleset | head -30; ss -ltn')}\n`,
      );
    expect(r.rc, r.err).toBe(0);
    expect(fileSha('file1')).toBe(sha.file1);
    await waitFor('a direct open', () => cpe!.l.seen.slice(seen).some((l) => l.event === 'open'), 5000);
    const open = cpe!.l.seen.slice(seen).find((l) => l.event === 'open')!;
    expect(open.path).toBe('direct');
    expect(open.via).toBe('dsl');
    expect(String(open.why)).toMatch(/HAG unreachable/);
    expect(status().hag.state).toBe('down');
    // The HAG is back: the checker finds it and new connections are bonded again.
    await startHag();
    await waitFor('HAG up again', () => status().hag.state === 'up', 15_000, 200);
    const bondedBefore = cpe!.l.seen.filter((l) => l.event === 'open' && l.path === 'bonded').length;
    const r2 = await finished(download('file1'), 60_000);
    expect(r2.rc, r2.err).toBe(0);
    expect(fileSha('file1')).toBe(sha.file1);
    await waitFor(
      'a bonded open',
      () => cpe!.l.seen.filter((l) => l.event === 'open' && l.path === 'bonded').length > bondedBefore,
      5000,
    );
  }, 120_000);

  it('(e) /metrics; an invalid reload is kept out; SIGTERM drains, then removes table, rules, routes and the TUN', async () => {
    const metrics = () => ns.sh('lan', 'curl -sS --max-time 5 http://198.18.5.1:8080/metrics');
    await waitFor(
      'dsl bytes in /metrics',
      () => /cpe_uplink_bytes_total\{uplink="dsl",direction="in"\} [1-9]/.test(metrics()),
      5000,
      300,
    );
    expect(metrics()).toMatch(/cpe_hag_up 1/);
    const page = ns.sh('lan', 'curl -sS --max-time 5 http://198.18.5.1:8080/');
    expect(page).toContain('/status.json');
    expect(ns.sh('cpe', 'nft list tables')).toContain(`hybrid_access${suffix}`);
    // An invalid config on SIGHUP: logged with its line, the running one kept.
    writeFileSync(join(work, 'cpe.yaml'), `${cpeConfig()}quic: sometimes\n`);
    cpe!.p.kill('SIGHUP');
    const bad = await once(cpe!.l, (l) => l.event === 'reload-failed', 5000);
    expect(bad).toMatchObject({ path: 'quic', file: join(work, 'cpe.yaml') });
    expect(bad.line).toBeGreaterThan(20);
    // SIGTERM with a download running: the listener closes, so new LAN connections find no
    // transparent socket and the kernel forwards them NATed on the primary uplink (the home keeps
    // its internet); after drainTimeout (2 s) the open one is reset, then everything is torn down.
    const before = cpe!.l.seen.length;
    const dl = finished(download('file50'), 60_000);
    await waitFor('the download open', () => cpe!.l.seen.slice(before).some((l) => l.event === 'open'), 5000);
    await new Promise((res) => setTimeout(res, 500));
    const t0 = Date.now();
    cpe!.p.kill('SIGTERM');
    await once(cpe!.l, (l) => l.event === 'drain', 5000);
    const opens = cpe!.l.seen.filter((l) => l.event === 'open').length;
    const late = await finished(
      ns.spawn('lan', ['sh', '-c', `curl -sS --max-time 5 http://${SERVER}:8000/file1 -o /dev/null`]),
      10_000,
    );
    expect(late.rc, late.err).toBe(0);
    expect(cpe!.l.seen.filter((l) => l.event === 'open').length).toBe(opens);
    await waitFor('CPE exit', () => cpe!.l.exited !== null, 15_000);
    expect(cpe!.l.exited).toBe(0);
    expect(Date.now() - t0).toBeGreaterThan(1500);
    expect((await dl).rc).not.toBe(0); // 50 MB at 70 Mbit/s takes 6 s: cut by the drain
    expect(cpe!.l.seen.find((l) => l.event === 'drain')?.open).toBeGreaterThanOrEqual(1);
    expect(cpe!.l.seen.find((l) => l.event === 'stopped')?.reset).toBeGreaterThanOrEqual(1);
    expect(ns.sh('cpe', 'nft list tables')).not.toContain('hybrid_access');
    expect(ns.sh('cpe', 'ip link show')).not.toContain('cpe0');
    const rules = ns.sh('cpe', 'ip rule show; ip -6 rule show');
    expect(rules).not.toMatch(/lookup (100|200|201)\b/);
    expect(ns.sh('cpe', 'ip route show table all')).not.toMatch(/table (100|200|201)\b/);
  }, 60_000);
});
