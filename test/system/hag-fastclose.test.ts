// A kernel MPTCP client killed mid-download (RFC 8684 3.5, MP_FASTCLOSE): in namespaces this test
// creates (removed in afterAll), c (mptcpize curl, two uplinks c1 198.18.1.2 and c2 198.18.2.2) ──
// h (our HAG, SOCKS5 on 198.18.100.1) ── s (HTTP server 198.18.3.2:8000). Each round starts a
// download over both subflows, stops curl until its socket holds unread data, SIGKILLs it, and
// asserts that within 2 s the
// HAG's session is gone (with its subflows) and the server's socket is closed too. The packets are
// captured in h; a round that fails prints the last of them, the counters and the sockets.
// What Linux 6.18 does: killed with unread data, it resets its subflows with MP_FASTCLOSE (the
// session goes in ~30 ms), which is what each round makes sure of (curl is stopped until its socket
// holds unread data). Killed with nothing unread, it sends a DATA_FIN and its orphan takes data
// until its buffer is full, then says nothing for about 60 s (neither net.mptcp.close_timeout nor
// tcp_fin_timeout in its namespace shortened that on 2026-12-03); the HAG holds the half-closed
// connection meanwhile, as a peer that half-closed and reads slowly looks the same (README, "A
// client that aborts or is killed mid-download").
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hagLab, startHag } from './lib/hag-lab.js';
import { compileTree } from './lib/lab-run.js';
import { Netns, waitFor } from './lib/netns.js';
import type { Lines } from './lib/proc.js';

const HAG = '198.18.100.1';
const SOCKS = `socks5://cpe1:s3cret@${HAG}:1080`;
const ROUNDS = 15;

let ns: Netns;
let work: string;
let hag: Lines;

const CONFIG = `# written by test/system/hag-fastclose.test.ts
tun: {name: hag0}
service:
  addresses: [${HAG}]
  socks: {port: 1080, users: [{username: cpe1, password: s3cret}]}
egress: {source4: 198.18.3.1, connectTimeout: 3s}
access:
  subscribers: [198.18.1.0/24, 198.18.2.0/24]
  allowDestinations: [198.18.0.0/15]
uplinks:
  - {name: dsl, prefixes: [198.18.1.0/24]}
  - {name: lte, prefixes: [198.18.2.0/24]}
metrics: {address: 127.0.0.1, port: 9108}
log: {level: info, connections: true}
`;

beforeAll(async () => {
  ns = new Netns('hfc');
  work = mkdtempSync(join(tmpdir(), 'hag-fastclose-'));
  const dist = join(work, 'dist');
  compileTree(dist);
  writeFileSync(join(work, 'file'), randomBytes(50_000_000));
  await hagLab(ns, { family: 4, nets: [1, 2, 3], serve: work, shape: [40, 30] });
  writeFileSync(join(work, 'hag.yaml'), CONFIG);
  ({ hag } = await startHag(ns, dist, join(work, 'hag.yaml')));
  // The SOCKS connections' packets (headers), for a round that fails.
  ns.spawn('h', ['tcpdump', '-i', 'any', '-U', '-s', '120', '-w', join(work, 'wire.pcap'), 'port 1080']);
}, 120_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface SessionRow {
  id: number;
  bytesDown: number;
  subflows: unknown[];
}
const sessions = () =>
  JSON.parse(ns.sh('h', 'curl -sS --max-time 5 http://127.0.0.1:9108/sessions')) as SessionRow[];
/** The server's connections on port 8000 other than the listener. */
const serverConns = () =>
  ns
    .sh('s', 'ss -Htn state established state close-wait state fin-wait-1 state fin-wait-2 sport = :8000')
    .trim();

/** The client's MPTCP sockets (ss -M) hold bytes the application has not read. */
const unreadAtClient = () =>
  ns
    .sh('c', 'ss -HMn')
    .split('\n')
    .some((l) => Number(l.trim().split(/\s+/)[1]) > 0);

describe('HAG: a kernel MPTCP client killed mid-download', () => {
  it(`SIGKILL ${ROUNDS} times: each time the session, its subflows and the server's socket are gone within 2 s`, async () => {
    const slow: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const dl = ns.spawn('c', [
        'sh',
        '-c',
        `exec mptcpize run curl -sS --max-time 30 -x ${SOCKS} http://198.18.3.2:8000/file -o /dev/null`,
      ]);
      const exited = new Promise((r) => dl.on('exit', r));
      // Killed while it downloads over both subflows (a different amount in each round).
      const at = 500_000 + round * 300_000;
      await waitFor(
        'the download on two subflows',
        () => sessions().some((s) => s.subflows.length === 2 && s.bytesDown > at),
        15_000,
        20,
      );
      // Stopped first, until its MPTCP socket holds unread data: Linux then ends the killed
      // socket with MP_FASTCLOSE. Killed with nothing unread it sends a DATA_FIN instead and its
      // orphan stays about 60 s (see the top of the file).
      dl.kill('SIGSTOP');
      await waitFor("unread data in the stopped client's MPTCP socket", unreadAtClient, 10_000, 20);
      dl.kill('SIGKILL');
      await exited;
      const killed = Date.now();
      try {
        await waitFor(
          'the session gone and the server socket closed',
          () => sessions().length === 0 && serverConns() === '',
          2000,
          20,
        );
      } catch (e) {
        const left = JSON.stringify(sessions());
        const server = serverConns();
        const mib = ns.sh(
          'h',
          'curl -sS --max-time 5 http://127.0.0.1:9108/metrics | grep -i -E "fastclose|rst|challenge|retrans|probe|datafin"',
        );
        const wire = ns.sh(
          'h',
          'timeout 1 tcpdump -nn -i any -c 12 port 1080 2>/dev/null; ip netns exec ' +
            ns.name('c') +
            ' ss -tnie; ip netns exec ' +
            ns.name('c') +
            ' nstat -az | grep -i -E "mptcp.*(fast|rst|close|data)"',
          10_000,
        );
        await waitFor('the session gone at last', () => sessions().length === 0, 90_000, 200).catch(() => {});
        slow.push(
          `round ${round}: ${(e as Error).message}; open: ${left}; server: ${server}\n${mib}\n${wire}\ngone after ${Date.now() - killed} ms`,
        );
        break;
      }
      process.stdout.write(`round ${round}: gone after ${Date.now() - killed} ms\n`);
    }
    // How the rounds ended: the kernel's MP_FASTCLOSE, at the kill or at its close_timeout.
    const m = ns.sh('h', 'curl -sS --max-time 5 http://127.0.0.1:9108/metrics | grep -E "MPFastcloseRx"');
    process.stdout.write(m);
    if (slow.length > 0) {
      const rsts = ns.sh(
        'h',
        `tcpdump -nn -r ${join(work, 'wire.pcap')} 2>/dev/null | grep -v 'length 0$' | tail -5; tcpdump -nn -r ${join(work, 'wire.pcap')} 2>/dev/null | grep -B2 -A30 -m1 -E 'F\\.|mptcp.*(fin|F)' | cut -c1-300`,
      );
      const log = hag.seen.filter((l) => l.event === 'close').slice(-5);
      process.stdout.write(`${slow.join('\n')}\npackets:\n${rsts}\nlast closes: ${JSON.stringify(log)}\n`);
    }
    expect(slow).toEqual([]);
  }, 200_000);
});
