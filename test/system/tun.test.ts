// System test of the TUN addon (src/io/tun-tap) against the Linux kernel, as root in network
// namespaces created per test: packets written into the TUN reach local sockets, packets routed into
// it are read in order and in batches, errors are typed TunErrors that say what to do, close() frees
// the fd itself (also while reading is held by the read hold-off), and a closed
// (or unref'd) TUN lets its process exit. With offloads (IFF_VNET_HDR) the same holds, a 64 KB TCP
// super-segment written into the TUN reaches a kernel socket in another namespace cut into MSS
// pieces, and a kernel sender's burst is read as one super-packet with gso_type set. The TUN is
// opened by a child process inside the namespace (test/system/fixtures/tun-agent.mjs) that uses the
// wrapper and src/wire transpiled from the TypeScript source.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Tun, TunError } from '../../src/io/tun-tap/index.js';
import { Netns, requireRoot, waitFor } from './lib/netns.js';
import { linkNamed } from './lib/tun-holders.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

// Addresses: the TUN has 198.18.0.1/24 and 2001:db8::1/64; 198.18.1.0/24 is routed into it.
const TUN_V4 = '198.18.0.1';
const PEER_V4 = '198.18.0.2';
const TUN_V6 = '2001:db8::1';
const PEER_V6 = '2001:db8::2';
const ROUTED_V4 = '198.18.1.9';

interface AgentEvent {
  ev: string;
  [key: string]: unknown;
}

/** A tun-agent child: its JSON-line events, stdin commands, and exit. */
class Agent {
  readonly events: AgentEvent[] = [];
  stderr = '';
  exit: { code: number | null; signal: string | null; at: number } | undefined;

  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      this.events.push({ ...(JSON.parse(line) as AgentEvent), at: Date.now() });
    });
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    proc.on('exit', (code, signal) => {
      this.exit = { code, signal, at: Date.now() };
    });
  }

  find(ev: string): AgentEvent | undefined {
    return this.events.find((e) => e.ev === ev);
  }

  async next(ev: string, timeoutMs = 10_000): Promise<AgentEvent> {
    await waitFor(
      `agent event "${ev}" (stderr: ${this.stderr})`,
      () => this.find(ev) !== undefined || this.exited(),
      timeoutMs,
    );
    const found = this.find(ev);
    if (!found) throw new Error(`agent exited before "${ev}": ${JSON.stringify(this.events)} ${this.stderr}`);
    return found;
  }

  send(cmd: object): void {
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  exited(): boolean {
    return this.exit !== undefined;
  }
}

let stage: string;

function transpile(file: string): string {
  return ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  }).outputText;
}

/** src/wire/**.ts as ES modules in `to` (a folder of type "module"). */
function stageWire(from: string, to: string): void {
  mkdirSync(to, { mode: 0o755 });
  chmodSync(to, 0o755);
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) stageWire(join(from, e.name), join(to, e.name));
    else if (e.name.endsWith('.ts'))
      writeFileSync(join(to, e.name.replace(/\.ts$/, '.js')), transpile(join(from, e.name)), { mode: 0o644 });
  }
}

/** Stages the agent, the wrapper and src/wire (transpiled from TypeScript) and the addon in a world-readable folder. */
function stageAgent(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ha-tun-test-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'tun-tap.mjs'), transpile(join(repo, 'src/io/tun-tap/index.ts')), { mode: 0o644 });
  stageWire(join(repo, 'src/wire'), join(dir, 'wire'));
  writeFileSync(join(dir, 'wire', 'package.json'), '{"type":"module"}\n', { mode: 0o644 });
  copyFileSync(join(repo, 'test/system/fixtures/tun-agent.mjs'), join(dir, 'tun-agent.mjs'));
  copyFileSync(join(repo, 'src/io/tun-tap/build/Release/tun_tap.node'), join(dir, 'tun_tap.node'));
  for (const f of ['tun-agent.mjs', 'tun_tap.node']) chmodSync(join(dir, f), 0o644);
  return dir;
}

function internetChecksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

/** IPv4/UDP with a correct header checksum and UDP checksum 0 (allowed for IPv4). */
function ipv4Udp(src: string, dst: string, sport: number, dport: number, payload: Buffer): Buffer {
  const p = Buffer.alloc(28 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p.writeUInt16BE(0x4000, 6); // DF
  p[8] = 64;
  p[9] = 17;
  ipv4Bytes(src).copy(p, 12);
  ipv4Bytes(dst).copy(p, 16);
  p.writeUInt16BE(internetChecksum(p.subarray(0, 20)), 10);
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt16BE(8 + payload.length, 24);
  payload.copy(p, 28);
  return p;
}

/** IPv6/UDP with the (mandatory) UDP checksum over the pseudo-header. */
function ipv6Udp(src: string, dst: string, sport: number, dport: number, payload: Buffer): Buffer {
  const udpLen = 8 + payload.length;
  const p = Buffer.alloc(40 + udpLen);
  p[0] = 0x60;
  p.writeUInt16BE(udpLen, 4);
  p[6] = 17;
  p[7] = 64;
  ipv6Bytes(src).copy(p, 8);
  ipv6Bytes(dst).copy(p, 24);
  p.writeUInt16BE(sport, 40);
  p.writeUInt16BE(dport, 42);
  p.writeUInt16BE(udpLen, 44);
  payload.copy(p, 48);
  const pseudo = Buffer.alloc(40 + udpLen + (udpLen % 2));
  p.copy(pseudo, 0, 8, 40);
  pseudo.writeUInt32BE(udpLen, 32);
  pseudo[39] = 17;
  p.copy(pseudo, 40, 40);
  p.writeUInt16BE(internetChecksum(pseudo) || 0xffff, 46);
  return p;
}

describe('TUN addon (root, network namespace)', () => {
  let netns: Netns | undefined;

  beforeAll(() => {
    requireRoot();
    stage = stageAgent();
  });
  afterAll(() => {
    if (stage) rmSync(stage, { recursive: true, force: true });
  });
  beforeEach(() => {
    netns = new Netns('tun');
    netns.add('t');
  });
  afterEach(() => {
    netns?.cleanup();
    netns = undefined;
  });

  function agent(config: object, prefix: string[] = []): Agent {
    const argv = [...prefix, process.execPath, join(stage, 'tun-agent.mjs'), JSON.stringify(config)];
    return new Agent(netns!.spawn('t', argv, { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  /** Runs a Node script in the namespace and waits for it to succeed. */
  async function runNode(script: string, ...args: string[]): Promise<string> {
    const p = netns!.spawn('t', [process.execPath, '-e', script, ...args]);
    let out = '';
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const [code] = await once(p, 'exit');
    if (code !== 0) throw new Error(`node -e failed (${code}): ${out}`);
    return out;
  }

  const serveConfig = {
    mode: 'serve',
    name: 'hatun%d',
    addresses: [`${TUN_V4}/24`, `${TUN_V6}/64`],
    txQueueLen: 2000,
  };

  for (const offload of ['off', 'auto'] as const) {
    it(`delivers IPv4 and IPv6 packets written into the TUN to local UDP sockets (offload ${offload})`, async () => {
      const tun = agent({ ...serveConfig, offload });
      const opened = await tun.next('open');
      expect(opened.name).toMatch(/^hatun\d+$/);
      expect(opened.vnetHdrLen).toBe(offload === 'auto' ? 10 : 0);
      expect(opened.fd).toBeGreaterThan(2);

      const receiver = netns!.spawn('t', [
        process.execPath,
        '-e',
        `const dgram = require('node:dgram');
         for (const [type, host] of [['udp4', '${TUN_V4}'], ['udp6', '${TUN_V6}']]) {
           const s = dgram.createSocket(type);
           s.on('message', (m, r) => console.log(JSON.stringify({ data: m.toString(), from: r.address, port: r.port })));
           s.bind(7001, host, () => console.log(JSON.stringify({ bound: host })));
         }`,
      ]);
      const lines: Record<string, unknown>[] = [];
      createInterface({ input: receiver.stdout! }).on('line', (l) => lines.push(JSON.parse(l)));
      await waitFor('receiver bound', () => lines.filter((l) => l.bound).length === 2);

      const v4 = ipv4Udp(PEER_V4, TUN_V4, 40000, 7001, Buffer.from('hello over IPv4'));
      const v6 = ipv6Udp(PEER_V6, TUN_V6, 40001, 7001, Buffer.from('hello over IPv6'));
      tun.send({ op: 'write', packets: [v4.toString('hex'), v6.toString('hex')] });
      expect((await tun.next('written')).n).toBe(2);

      await waitFor('both datagrams received', () => lines.filter((l) => l.data).length === 2);
      expect(lines.filter((l) => l.data)).toEqual(
        expect.arrayContaining([
          { data: 'hello over IPv4', from: PEER_V4, port: 40000 },
          { data: 'hello over IPv6', from: PEER_V6, port: 40001 },
        ]),
      );

      tun.send({ op: 'close' });
      await tun.next('closed');
      await waitFor('agent exit after close', () => tun.exited(), 2_000);
      expect(tun.exit?.code).toBe(0);
    });

    it(`reads 1000 packets routed into the TUN in order, with their lengths, in batches of up to 64 (offload ${offload})`, async () => {
      const tun = agent({ ...serveConfig, offload });
      const { name } = await tun.next('open');
      netns!.sh('t', `ip route add 198.18.1.0/24 dev ${name}`);

      const N = 1000;
      await runNode(
        `const s = require('node:dgram').createSocket('udp4');
         s.bind(40002, '${TUN_V4}', () => {
           let left = ${N};
           for (let i = 0; i < ${N}; i++) {
             const p = Buffer.alloc(4 + (i % 200), i & 0xff);
             p.writeUInt32BE(i, 0);
             s.send(p, 7002, '${ROUTED_V4}', () => { if (--left === 0) s.close(); });
           }
         });`,
      );

      const seqs: number[] = [];
      const sizes: number[] = [];
      await waitFor(
        `${N} packets read`,
        () => {
          seqs.length = 0;
          sizes.length = 0;
          for (const b of tun.events.filter((e) => e.ev === 'batch')) {
            const packets = b.packets as string[];
            const lengths = b.lengths as number[];
            packets.forEach((hex, i) => {
              const p = Buffer.from(hex, 'hex');
              expect(p.length).toBe(lengths[i]);
              if (p[0] >> 4 !== 4 || p[9] !== 17 || p.readUInt16BE(22) !== 7002) return;
              expect(p.readUInt16BE(2)).toBe(p.length);
              seqs.push(p.readUInt32BE(28));
              sizes.push(p.length);
            });
          }
          return seqs.length >= N;
        },
        15_000,
      );
      expect(seqs).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(sizes).toEqual(Array.from({ length: N }, (_, i) => 20 + 8 + 4 + (i % 200)));

      const counts = tun.events.filter((e) => e.ev === 'batch').map((b) => b.count as number);
      expect(Math.max(...counts)).toBeLessThanOrEqual(64);
      expect(Math.max(...counts)).toBeGreaterThan(1);
      expect(counts.length).toBeLessThan(N);
      // A full batch (64 packets) stopped before the queue was empty; the last one emptied it.
      const batches = tun.events.filter((e) => e.ev === 'batch');
      for (const b of batches) if (b.count === 64) expect(b.drained).toBe(false);
      expect(batches.at(-1)?.drained).toBe(true);
      expect(tun.find('read-error')).toBeUndefined();
    });
  }

  it('refuses a non-root user with TunError EPERM and a message that says to run as root', async () => {
    // The system's clone device: refused at open() where it is mode 0600, else at TUNSETIFF.
    const denied = agent({ mode: 'serve', name: 'hatun%d' }, NOBODY);
    const err = await denied.next('error');
    expect(err).toMatchObject({ isTunError: true, name: 'TunError', code: 'EPERM' });
    expect(err.message).toMatch(/run as root/);
    await waitFor('agent exit', () => denied.exited());
    expect(denied.exit?.code).toBe(3);

    // A clone device anyone may open: TUNSETIFF itself refuses without CAP_NET_ADMIN.
    const open = join(stage, 'tun-0666');
    execFileSync('mknod', [open, 'c', '10', '200']);
    chmodSync(open, 0o666);
    const refused = agent({ mode: 'serve', name: 'hatun%d', devicePath: open }, NOBODY);
    expect(await refused.next('error')).toMatchObject({ isTunError: true, code: 'EPERM', syscall: 'ioctl' });
    expect((await refused.next('error')).message).toMatch(/needs CAP_NET_ADMIN .*: run as root/);
  });

  it('reports a missing clone device as TunError ENOENT with what to do', () => {
    let caught: unknown;
    try {
      Tun.open({ name: 'hatun%d', devicePath: '/nonexistent/net/tun' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TunError);
    expect(caught).toMatchObject({ code: 'ENOENT', syscall: 'open' });
    expect((caught as Error).message).toMatch(/\/nonexistent\/net\/tun does not exist: load the tun module/);
  });

  it('lets the process exit by itself right after close(), or at once when unref()ed', async () => {
    const closing = agent({ ...serveConfig, mode: 'close-after', packets: 3 });
    const { name } = await closing.next('open');
    netns!.sh('t', `ip route add 198.18.1.0/24 dev ${name}`);
    await runNode(
      `const s = require('node:dgram').createSocket('udp4');
       let left = 3;
       for (let i = 0; i < 3; i++) s.send('x', 7003, '${ROUTED_V4}', () => { if (--left === 0) s.close(); });`,
    );
    const closed = await closing.next('closed');
    await waitFor('exit after close', () => closing.exited(), 2_000);
    expect(closing.exit).toMatchObject({ code: 0, signal: null });
    expect(closing.exit!.at - (closed.at as number)).toBeLessThan(2_000);

    const unrefed = agent({ mode: 'read', unref: true, name: 'hatun%d' });
    expect(await unrefed.next('open')).toMatchObject({ reading: true });
    await waitFor('exit of an unref()ed reader', () => unrefed.exited(), 2_000);
    expect(unrefed.exit).toMatchObject({ code: 0, signal: null });

    // By default a reading TUN keeps its process alive.
    const reading = agent({ mode: 'read', name: 'hatun%d' });
    await reading.next('open');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(reading.exited()).toBe(false);
  });

  it('close() while reading is held (the read hold-off) closes the fd itself: the interface goes before the process exits', async () => {
    const tun = agent({ ...serveConfig, offload: 'off' });
    const { name } = await tun.next('open');
    tun.send({ op: 'hold' });
    await tun.next('held');
    tun.send({ op: 'close' });
    expect((await tun.next('closed')).tunFds).toBe(0);
    await waitFor('agent exit after close', () => tun.exited(), 2_000);
    expect(tun.exit?.code).toBe(0);
    expect(linkNamed(netns!.sh('t', 'ip -o link show'), name as string)).toBe(false);
  });

  it('sets IP_TRANSPARENT and IPV6_TRANSPARENT on listeners, and needs root for it', async () => {
    const root = agent({ mode: 'transparent' });
    expect(await root.next('transparent')).toMatchObject({
      v4: { before: false, after: true },
      v6: { before: false, after: true },
    });
    const nobody = agent({ mode: 'transparent' }, NOBODY);
    const denied = await nobody.next('transparent');
    for (const family of ['v4', 'v6']) {
      expect(denied[family]).toMatchObject({
        error: { isTunError: true, code: 'EPERM', syscall: 'setsockopt' },
      });
    }
  });

  /**
   * Namespace t (the agent's TUN, 198.18.0.1/24; 198.18.1.0/24 routed into it) forwards to
   * namespace p over a veth, 198.18.2.1 / 2001:db8:2::1 (t) and .2 / ::2 (p); `tsoOff` makes t's veth cut GSO
   * packets in software on the way out, `gro` turns GRO on where t receives from p.
   */
  async function twoHosts(opts: { tsoOff?: boolean; gro?: boolean }): Promise<void> {
    netns!.add('p');
    netns!.veth('t', 'vt', 'p', 'vp');
    netns!.sh(
      't',
      'ip addr add 198.18.2.1/24 dev vt && sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0',
    );
    netns!.sh('p', 'ip addr add 198.18.2.2/24 dev vp && ip route add 198.18.1.0/24 via 198.18.2.1');
    // IPv6 alike: 2001:db8:2::1 (t) and ::2 (p); 2001:db8:1::/64 is routed into the TUN.
    netns!.sh(
      't',
      'ip -6 addr add 2001:db8:2::1/64 dev vt nodad && sysctl -qw net.ipv6.conf.all.forwarding=1',
    );
    netns!.sh(
      'p',
      'ip -6 addr add 2001:db8:2::2/64 dev vp nodad && ip -6 route add 2001:db8:1::/64 via 2001:db8:2::1',
    );
    if (opts.tsoOff) netns!.sh('t', 'ethtool -K vt tso off');
    if (opts.gro) netns!.sh('t', 'ethtool -K vt gro on');
  }

  it.each([
    [4, '198.18.2.2', ROUTED_V4, '198.18.1.0/24'],
    [6, '2001:db8:2::2', '2001:db8:1::9', '2001:db8:1::/64'],
  ] as const)(
    'with offloads, writes one 64 KB TCP super-segment (IPv%s) that the kernel cuts into MSS pieces for a kernel socket',
    async (_v, peer, self, routed) => {
      await twoHosts({ tsoOff: true });
      const listener = netns!.spawn('p', [
        process.execPath,
        '-e',
        `const server = require('node:net').createServer((s) => {
         const chunks = [];
         s.on('data', (d) => {
           chunks.push(d);
           const all = Buffer.concat(chunks);
           console.log(JSON.stringify({ got: all.length, sha: require('node:crypto').createHash('sha256').update(all).digest('hex') }));
         });
       });
       server.listen(7010, '${peer}', () => console.log(JSON.stringify({ listening: true })));`,
      ]);
      const lines: Record<string, unknown>[] = [];
      createInterface({ input: listener.stdout! }).on('line', (l) => lines.push(JSON.parse(l)));
      await waitFor('listener', () => lines.some((l) => l.listening));
      const rx = () => Number(netns!.sh('p', 'cat /sys/class/net/vp/statistics/rx_packets'));
      const rx0 = rx();

      const tun = agent({
        mode: 'gso-write',
        name: 'hatun%d',
        offload: 'auto',
        addresses: [`${TUN_V4}/24`, `${TUN_V6}/64`],
        self,
        peer,
        port: 7010,
      });
      const opened = await tun.next('open');
      expect(opened).toMatchObject({ vnetHdrLen: 10, offloads: { csum: true, tso4: true, tso6: true } });
      netns!.sh('t', `ip route add ${routed} dev ${opened.name}`);
      tun.send({ op: 'connect' });
      const written = await tun.next('written', 15_000);
      expect(written.packetLen).toBeGreaterThan(60_000);
      const bytes = written.bytes as number;
      const expected = Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 31 + (i >> 8)) & 0xff));
      const sha = createHash('sha256').update(expected).digest('hex');
      await waitFor('all bytes at the kernel socket', () => lines.some((l) => l.got === bytes), 10_000);
      expect(lines.find((l) => l.got === bytes)?.sha).toBe(sha);
      // One write, cut on t's way out into MSS pieces: the peer's veth received each of them.
      expect(rx() - rx0).toBeGreaterThanOrEqual((written.segments as number) + 1);
    },
  );

  it("with offloads, reads a kernel sender's burst as one GRO super-packet with gso_type set", async () => {
    await twoHosts({ gro: true });
    const tun = agent({
      mode: 'gro-read',
      name: 'hatun%d',
      offload: 'auto',
      addresses: [`${TUN_V4}/24`],
      self: ROUTED_V4,
      port: 7011,
    });
    const opened = await tun.next('open');
    netns!.sh('t', `ip route add 198.18.1.0/24 dev ${opened.name}`);
    netns!.spawn('p', [
      process.execPath,
      '-e',
      `const s = require('node:net').connect(7011, '${ROUTED_V4}', () => s.write(Buffer.alloc(256 * 1024, 7)));
       s.on('error', () => {});`,
    ]);
    await tun.next('syn');
    await waitFor(
      'a super-packet',
      () => tun.events.some((e) => e.ev === 'data' && (e.len as number) > 1500),
      10_000,
    );
    const big = tun.events.find((e) => e.ev === 'data' && (e.len as number) > 1500)!;
    // VIRTIO_NET_HDR_GSO_TCPV4, the sender's MSS, and the kernel's checksum verdict.
    expect(big).toMatchObject({ gsoType: 1, gsoSize: 1460 });
    expect((big.flags as number) & 3).not.toBe(0);
    expect(big.payload as number).toBeGreaterThan(1460);
  });

  it('opens one interface twice with IFF_MULTI_QUEUE', async () => {
    const mq = agent({ mode: 'multiqueue', name: 'hamq%d' });
    const r = await mq.next('multiqueue');
    const [a, b] = r.names as string[];
    expect(a).toMatch(/^hamq\d+$/);
    expect(b).toBe(a);
  });
});
