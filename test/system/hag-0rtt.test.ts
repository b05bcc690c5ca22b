// The HAG's 0-RTT Convert (RFC 8803 with TCP Fast Open, RFC 7413) end to end, in network
// namespaces this test creates (all removed in afterAll):
//   c (our-core Convert client on a TUN, 198.18.6.2, routed out of c1; 50 ms each way inside the
//      client, so that the handshake takes a visible 100 ms)  ── h (the HAG, 198.18.100.1 in its
//   TUN)  ── s (HTTP server 198.18.3.2:8000)
// The first connection asks for a cookie: the HAG dials the server after the client's third ACK.
// The second sends the cookie, the Convert header, the Connect TLV and the GET in its SYN: the
// HAG dials the server before the third ACK arrives. tcpdump in the HAG's namespace (one clock)
// gives the times; the HAG's log and metrics say which connection was 0-RTT.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';
import { ANY_ERROR, builtTreeInto } from './lib/tree-build.js';

const ROOT = join(import.meta.dirname, '../..');
const ENV = {
  ...process.env,
  HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
};
const HAG = '198.18.100.1';
const DELAY = 50; // one way, inside the client

let ns: Netns;
let work: string;
let dist: string;
let hag: Lines;
let fileSha = '';

function metrics(): Record<string, number> {
  const text = ns.sh('h', 'curl -sS --max-time 5 http://127.0.0.1:9109/metrics');
  const r: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\S+)$/.exec(line);
    if (m && !line.startsWith('#')) r[m[1]] = Number(m[2]);
  }
  return r;
}

async function convertClient(args: string[]): Promise<Record<string, unknown>> {
  const p = ns.spawn(
    'c',
    [
      'node',
      join(dist, 'hag/tools/convert-client.js'),
      '--tun',
      'cv0',
      '--addr',
      '198.18.6.2',
      '--hag',
      `${HAG}:5124`,
      '--dst',
      '198.18.3.2:8000',
      '--path',
      '/file',
      '--tfo-cache',
      join(work, 'tfo-cache.json'),
      '--delay',
      String(DELAY),
      ...args,
    ],
    { cwd: ROOT, env: ENV },
  );
  const l = lines(p);
  await waitFor('the Convert client to exit', () => l.exited !== null, 60_000);
  const done = l.seen.find((x) => x.event === 'done' || x.event === 'error');
  if (!done) throw new Error(`Convert client exited ${l.exited} without a result: ${l.stderr.join('\n')}`);
  return { ...done, replyMs: l.seen.find((x) => x.event === 'reply')?.ms };
}

interface Pkt {
  t: number;
  src: string;
  dst: string;
  flags: string;
  len: number;
}

/** `tcpdump -r FILE -n -tt` lines as packets. */
function readPcap(file: string): Pkt[] {
  const text = ns.sh('h', `tcpdump -r ${file} -n -tt 2>/dev/null`);
  const out: Pkt[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+\.\d+) IP (\S+) > (\S+): Flags \[([^\]]*)\].*length (\d+)/.exec(line);
    if (m)
      out.push({
        t: Number(m[1]) * 1000,
        src: m[2],
        dst: m[3].replace(/:$/, ''),
        flags: m[4],
        len: Number(m[5]),
      });
  }
  return out;
}

beforeAll(async () => {
  ns = new Netns('h0r');
  work = mkdtempSync(join(tmpdir(), 'hag-0rtt-'));
  dist = join(work, 'dist');
  builtTreeInto(dist, ANY_ERROR);
  symlinkSync(join(ROOT, 'node_modules'), join(dist, 'node_modules'));
  const data = randomBytes(200_000);
  writeFileSync(join(work, 'file'), data);
  fileSha = createHash('sha256').update(data).digest('hex');

  for (const n of ['c', 'h', 's']) ns.add(n);
  ns.veth('c', 'c1', 'h', 'h1');
  ns.veth('h', 'hs', 's', 's0');
  ns.sh(
    'c',
    'sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 && ip addr add 198.18.1.2/24 dev c1 && ip route add default via 198.18.1.1',
  );
  ns.sh(
    'h',
    'sysctl -qw net.ipv4.ip_forward=1 && ip addr add 198.18.1.1/24 dev h1 && ip addr add 198.18.3.1/24 dev hs && ip route add 198.18.6.0/24 via 198.18.1.2',
  );
  ns.sh('s', 'ip addr add 198.18.3.2/24 dev s0 && ip route add default via 198.18.3.1');
  ns.spawn('s', ['python3', '-m', 'http.server', '8000', '--bind', '0.0.0.0', '--directory', work]);
  ns.sh(
    's',
    'for i in $(seq 100); do curl -s -o /dev/null http://198.18.3.2:8000/ && exit 0; sleep 0.1; done; exit 1',
  );
  writeFileSync(
    join(work, 'hag.yaml'),
    `tun: {name: hag0}
service:
  addresses: [${HAG}]
  convert:
    port: 5124
    fastOpen: {enabled: true}
egress: {source4: 198.18.3.1, connectTimeout: 3s}
access:
  subscribers: [198.18.6.0/24]
  allowDestinations: [198.18.0.0/15] # the test hosts' range
limits: {handshakeTimeout: 3s, drainTimeout: 2s}
metrics: {address: 127.0.0.1, port: 9109}
log: {level: info, connections: true}
`,
  );
  // One clock for both sides of the HAG: the client's segments in on h1, the HAG's to the server out on hs.
  ns.spawn('h', ['tcpdump', '-i', 'h1', '-n', '-U', '-w', join(work, 'client.pcap'), 'tcp port 5124']);
  ns.spawn('h', ['tcpdump', '-i', 'hs', '-n', '-U', '-w', join(work, 'server.pcap'), 'tcp port 8000']);
  const p = ns.spawn('h', ['node', join(dist, 'src/cli.js'), 'hag', '--config', join(work, 'hag.yaml')], {
    cwd: ROOT,
    env: ENV,
  });
  hag = lines(p);
  await once(hag, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
  if (hag.seen.some((l) => l.event === 'start-failed')) throw new Error(JSON.stringify(hag.seen));
  await new Promise((r) => setTimeout(r, 500)); // tcpdump attached
}, 180_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('HAG: 0-RTT Convert with TCP Fast Open', () => {
  it('the first connection gets a cookie; the second carries the Connect TLV in its SYN and the HAG dials the server before the third ACK', async () => {
    const first = await convertClient([]);
    expect(first.event, JSON.stringify(first)).toBe('done');
    expect(first.status).toBe(200);
    expect(first.sha256).toBe(fileSha);
    expect(first.fastOpen).toBe('requested');
    const second = await convertClient([]);
    expect(second.event, JSON.stringify(second)).toBe('done');
    expect(second.status).toBe(200);
    expect(second.sha256).toBe(fileSha);
    expect(second.fastOpen).toBe('accepted');
    expect(second.synDataBytes as number).toBeGreaterThan(40); // Convert header, Connect TLV, GET

    const opens = hag.seen.filter((l) => l.event === 'open' && l.proto === 'convert');
    expect(opens.map((l) => l.zeroRtt)).toEqual([false, true]);
    const m = metrics();
    expect(m['hag_fast_open_total{proto="convert",result="requested"}']).toBe(1);
    expect(m['hag_fast_open_total{proto="convert",result="accepted"}']).toBe(1);
    expect(m['hag_tcp_mib_total{counter="TCPFastOpenPassive"}']).toBe(1);

    // The packets, on the HAG's clock.
    await new Promise((r) => setTimeout(r, 300));
    const client = readPcap(join(work, 'client.pcap'));
    const server = readPcap(join(work, 'server.pcap'));
    const ports = [...new Set(client.filter((p) => p.flags === 'S').map((p) => p.src))];
    expect(ports).toHaveLength(2);
    const egressSyns = server.filter((p) => p.flags === 'S' && p.dst === '198.18.3.2.8000');
    expect(egressSyns).toHaveLength(2);
    const timing = ports.map((src, i) => {
      const syn = client.find((p) => p.src === src && p.flags === 'S')!;
      const ack3 = client.find((p) => p.src === src && !p.flags.includes('S') && p.flags.includes('.'))!;
      const egress = egressSyns[i];
      const firstData = server.find((p) => p.src === egress.src && p.len > 0)!;
      return {
        synLen: syn.len,
        egressAfterSyn: egress.t - syn.t,
        ack3AfterSyn: ack3.t - syn.t,
        firstByteAtServer: firstData.t - syn.t,
      };
    });
    process.stdout.write(
      `client: Convert reply after ${first.replyMs} ms (cookie request) and ${second.replyMs} ms (0-RTT); whole download ${first.ms} and ${second.ms} ms\n`,
    );
    process.stdout.write(
      `0-RTT timing (ms after the client's SYN reached the HAG): ${JSON.stringify(timing)}\n`,
    );
    // First connection: no data in the SYN; the server is dialled after the third ACK (1 RTT later).
    expect(timing[0].synLen).toBe(0);
    expect(timing[0].egressAfterSyn).toBeGreaterThan(timing[0].ack3AfterSyn);
    // Second: the SYN carries the data; the server is dialled, and has the GET, before the third ACK.
    expect(timing[1].synLen).toBeGreaterThan(40);
    expect(timing[1].egressAfterSyn).toBeLessThan(timing[1].ack3AfterSyn);
    expect(timing[1].firstByteAtServer).toBeLessThan(timing[1].ack3AfterSyn);
    expect(timing[1].ack3AfterSyn).toBeGreaterThanOrEqual(2 * DELAY - 5);
  }, 120_000);
});
