// The HAG with a kernel MPTCP client over IPv6 only, in namespaces this test creates: the client
// (c1 2001:db8:1::2, c2 2001:db8:2::2, a subflow endpoint on c2) downloads 20 MB with
// `mptcpize run curl` through the HAG's IPv6 service address (SOCKS5) from an IPv6 server; both
// IPv6 subflows carry a share (each access link shaped), sha256 equal. The HAG also announces its
// IPv4 service address (mptcp.announce other-family), which this client does not take.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hagLab, ROOT, startHag } from './lib/hag-lab.js';
import { compileDist, removeDist } from './lib/kernel-peer.js';
import { Netns } from './lib/netns.js';
import { type Lines, once } from './lib/proc.js';

const HAG6 = '2001:db8:100::1';
const MB = 1_000_000;

let ns: Netns | undefined;
let work: string;
let dist: string;
let hag: Lines;
let sha: string;

const config = `# written by test/system/hag-ipv6.test.ts
tun: {name: hag0}
service:
  addresses: [198.18.100.1, "${HAG6}"]
  socks: {port: 1080, users: [{username: u, password: p}]}
egress: {source6: "2001:db8:3::1"}
access:
  subscribers: ["2001:db8:1::/64", "2001:db8:2::/64"]
  allowDestinations: ["2001:db8::/32"]
uplinks:
  - {name: dsl, prefixes: ["2001:db8:1::/64"]}
  - {name: lte, prefixes: ["2001:db8:2::/64"]}
metrics: {address: 127.0.0.1, port: 9108}
log: {level: info, connections: true}
`;

beforeAll(async () => {
  ns = new Netns('hag6');
  work = mkdtempSync(join(tmpdir(), 'hag6-test-'));
  dist = compileDist();
  symlinkSync(join(ROOT, 'node_modules'), join(dist, 'node_modules'));
  const data = randomBytes(20 * MB);
  writeFileSync(join(work, 'file20'), data);
  sha = createHash('sha256').update(data).digest('hex');
  await hagLab(ns, { family: 6, nets: [1, 2, 3], serve: work, shape: [40, 30] });
  writeFileSync(join(work, 'hag.yaml'), config);
  ({ hag } = await startHag(ns, dist, join(work, 'hag.yaml')));
}, 180_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
  removeDist(dist);
});

describe('HAG over IPv6 with a kernel MPTCP client', () => {
  it('two IPv6 subflows: a 20 MB download through the IPv6 service address, both carry data, sha256 equal', async () => {
    const got = join(work, 'got');
    const out = ns!.sh(
      'c',
      `mptcpize run curl -sS --max-time 60 -x "socks5://u:p@[${HAG6}]:1080" "http://[2001:db8:3::2]:8000/file20" -o ${got} -w '%{time_total}'`,
      90_000,
    );
    expect(createHash('sha256').update(readFileSync(got)).digest('hex')).toBe(sha);
    const close = (await once(
      hag,
      (l) => l.event === 'close' && l.client === '2001:db8:1::2' && (l.bytesDown as number) > 20 * MB,
      10_000,
    )) as { mptcp: boolean; subflows: { bytesOut: number; remote: string; uplink: string }[] };
    expect(close.mptcp).toBe(true);
    expect(close.subflows.map((sf) => sf.uplink).sort()).toEqual(['dsl', 'lte']);
    expect(close.subflows.every((sf) => sf.remote.includes(':'))).toBe(true);
    for (const sf of close.subflows)
      expect(sf.bytesOut, JSON.stringify(close.subflows)).toBeGreaterThan(2 * MB);
    const nstat = ns!.sh('c', 'nstat -az MPTcpExtMPJoinSynAckRx MPTcpExtAddAddr');
    expect(nstat).toMatch(/MPTcpExtMPJoinSynAckRx\s+1\b/);
    // The HAG announced its IPv4 address on this IPv6 connection (RFC 8684 3.4.1).
    expect(nstat).toMatch(/MPTcpExtAddAddr\s+1\b/);
    process.stdout.write(`hag-ipv6: 20 MB in ${out.trim()} s; subflows ${JSON.stringify(close.subflows)}\n`);
  }, 120_000);
});
