// TCP benchmark: (1) two of our stacks over an in-memory wire (Gbit/s and CPU seconds per GB), and
// (2) as root, in a network namespace it creates: our stack on a TUN against the Linux kernel's
// TCP, beside kernel-to-kernel TCP over a veth pair measured in the same run, with the ratio.
//   node dist/scripts/bench/tcp.js [--mb 1000] [--skip-kernel]
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { benchArgs } from './args.js';

const { values: a } = benchArgs({
  options: { mb: { type: 'string', default: '1000' }, 'skip-kernel': { type: 'boolean', default: false } },
});
const BYTES = Number(a.mb) * 1e6;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Two stacks, a perfect zero-delay wire, one bulk transfer; returns wall and CPU seconds. */
function inMemory(bytes: number): { wall: number; cpu: number } {
  const tcp = { sendBuffer: 4 << 20, recvBuffer: 4 << 20 };
  const s1 = new TcpStack({ tcp, verifyChecksums: true });
  const s2 = new TcpStack({ tcp, verifyChecksums: true });
  const A = Uint8Array.of(198, 18, 0, 1);
  const B = Uint8Array.of(198, 19, 0, 1);
  let server: TcpSocket | undefined;
  s2.listen({ port: 9, onAccept: (s) => (server = s) });
  let now = 0;
  const client = s1.connect(now, { local: A, remote: B, remotePort: 9 });
  const chunk = new Uint8Array(1 << 20).fill(7);
  const sink = new Uint8Array(1 << 20);
  const buf = new Uint8Array(65536);
  let sent = 0;
  let received = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const move = (from: TcpStack, to: TcpStack) => {
    let moved = 0;
    for (;;) {
      const n = from.pollTransmit(now, buf);
      if (n === 0) return moved;
      to.input(now, buf.subarray(0, n));
      moved++;
    }
  };
  while (received < bytes) {
    if (sent < bytes) {
      const n = client.send(chunk, 0, Math.min(chunk.length, bytes - sent));
      sent += n;
      if (n) s1.wake(client);
    }
    const m = move(s1, s2) + move(s2, s1);
    if (server) {
      let r = server.recv(sink);
      while (r > 0) {
        received += r;
        r = server.recv(sink);
      }
      s2.wake(server);
    }
    if (m === 0) {
      now = Math.min(s1.pollTimeout(), s2.pollTimeout(), now + 1);
      if (s1.pollTimeout() <= now) s1.handleTimeout(now);
      if (s2.pollTimeout() <= now) s2.handleTimeout(now);
    }
  }
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

function sh(cmd: string): string {
  return execFileSync('sh', ['-c', cmd], { encoding: 'utf8' });
}

/** Runs a command, returns the last JSON line it printed with event "done". */
function runJson(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let done: Record<string, number> | undefined;
    createInterface({ input: p.stdout }).on('line', (l) => {
      try {
        const o = JSON.parse(l);
        if (o.event === 'done') done = o;
      } catch {
        /* not JSON */
      }
    });
    p.on('exit', (code) => (done ? resolve(done) : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

async function kernelRuns(bytes: number): Promise<void> {
  const ns = `habench-tcp-${process.pid}`;
  const peer = join(ROOT, 'test/system/fixtures/tcp_peer.py');
  const inNs = ['ip', 'netns', 'exec', ns];
  try {
    sh(`ip netns add ${ns} && ip -n ${ns} link set lo up`);
    sh(
      `ip -n ${ns} link add va type veth peer name vb && ip -n ${ns} link set va up && ip -n ${ns} link set vb up`,
    );
    // Two veth ends in one namespace: separate routing via a second namespace keeps it honest.
    const ns2 = `${ns}-b`;
    sh(`ip netns add ${ns2} && ip -n ${ns2} link set lo up && ip -n ${ns} link set vb netns ${ns2}`);
    sh(
      `ip -n ${ns} addr add 198.18.9.1/24 dev va && ip -n ${ns2} addr add 198.18.9.2/24 dev vb && ip -n ${ns2} link set vb up`,
    );
    // Kernel to kernel over the veth pair.
    const srv = spawn('ip', ['netns', 'exec', ns2, 'python3', peer, '--listen', '5201', '--send', '0'], {
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 500));
    const k = await runJson([
      ...inNs,
      'python3',
      peer,
      '--connect',
      '198.18.9.2:5201',
      '--send',
      String(bytes),
    ]);
    srv.kill();
    sh(`ip netns del ${ns2}`);
    const kernelGbps = (bytes * 8) / (k.ms / 1000) / 1e9;
    // Our stack on a TUN (in this namespace), the kernel as the client sending to it.
    const env = {
      ...process.env,
      HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
    };
    const tool = join(ROOT, 'dist/scripts/tools/tun-tcp.js');
    const ours = runJson(
      [
        ...inNs,
        'node',
        tool,
        '--tun',
        'bt0',
        '--addr',
        '198.18.5.2',
        '--peer',
        '198.18.5.1/24',
        '--listen',
        '5001',
      ],
      env,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const cpu0 = process.cpuUsage();
    const kc = await runJson([
      ...inNs,
      'python3',
      peer,
      '--connect',
      '198.18.5.2:5001',
      '--send',
      String(bytes),
    ]);
    void cpu0;
    const o = await ours;
    const oursGbps = (bytes * 8) / (kc.ms / 1000) / 1e9;
    console.log(`kernel -> kernel over veth:        ${kernelGbps.toFixed(2)} Gbit/s`);
    console.log(
      `kernel -> our stack through TUN:   ${oursGbps.toFixed(2)} Gbit/s  (received ${o.received} bytes)`,
    );
    console.log(`ratio ours/kernel:                 ${(oursGbps / kernelGbps).toFixed(2)}`);
  } finally {
    try {
      sh(
        `ip netns pids ${ns} | xargs -r kill; ip netns del ${ns} 2>/dev/null; ip netns del ${ns}-b 2>/dev/null; true`,
      );
    } catch {
      /* gone */
    }
  }
}

const m = inMemory(BYTES);
console.log(`two stacks in memory, ${a.mb} MB one way (checksums on):`);
console.log(
  `  ${((BYTES * 8) / m.wall / 1e9).toFixed(2)} Gbit/s, ${(m.cpu / (BYTES / 1e9)).toFixed(2)} CPU s per GB`,
);
if (!a['skip-kernel']) await kernelRuns(Math.min(BYTES, 500e6));
