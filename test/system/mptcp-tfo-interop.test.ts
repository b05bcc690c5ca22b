// TCP Fast Open over MPTCP with the Linux kernel (RFC 8684 appendix B.1, RFC 7413), through the
// TUN driver in a namespace this test creates: a kernel MPTCP client with TCP_FASTOPEN_CONNECT to
// our server, and our client to a kernel MPTCP server with TCP_FASTOPEN on its listener. Two
// connections each time: the first fetches the cookie, the second puts its first bytes in the SYN.
// Both carry 2 MB each way, checked by sha256, with the kernel's DSS checksum off and on. A capture read with tshark shows the SYN's data and
// the numbering after it on the wire: DSN IDSN + 1 and relative SSN 1 come after the SYN's data
// (what Linux does), and the last DATA_ACK counts the bytes after the SYN's data only.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keyIdsn } from '../../src/crypto/keys.js';
import { compileDist, type Done, removeDist, type TransferResult, transfer } from './lib/kernel-peer.js';
import { Netns } from './lib/netns.js';

let dist: string;
beforeAll(() => {
  dist = compileDist();
}, 120_000);
afterAll(() => removeDist(dist));

let ns: Netns | undefined;
afterEach(() => {
  ns?.cleanup();
  ns = undefined;
});

const MB = 1_000_000;
const OURS = '198.18.5.2';
const KERNEL = '198.18.5.1';

/** Every connection intact both ways: each kernel side matched to ours by the hashes. */
function expectAllIntact(r: TransferResult, conns: number, bytes: number): void {
  expect(r.oursAll.length).toBe(conns);
  expect(r.kernelAll.length).toBe(conns);
  for (const k of r.kernelAll) {
    const o = r.oursAll.find((d: Done) => d.rxSha256 === k.txSha256);
    expect(o, 'our side of a connection received what the kernel sent').toBeDefined();
    expect(o!.txSha256).toBe(k.rxSha256);
    expect(o!.received).toBe(bytes);
    expect(k.received).toBe(bytes);
    expect(o!.sent).toBe(bytes);
    expect(k.sent).toBe(bytes);
  }
}

interface Pkt {
  stream: number;
  src: string;
  syn: boolean;
  ack: boolean;
  seq: number;
  ackNo: number;
  len: number;
  tfoCookie: boolean;
  sendKey?: bigint;
  recvKey?: bigint;
  dataAck?: bigint;
  dsn?: bigint;
  ssn?: number;
  dll?: number;
}

/** The capture's TCP segments with their MPTCP and Fast Open fields (tshark, first occurrence). */
function readCapture(pcap: string): Pkt[] {
  const fields = [
    'tcp.stream',
    'ip.src',
    'tcp.flags.syn',
    'tcp.flags.ack',
    'tcp.seq_raw',
    'tcp.ack_raw',
    'tcp.len',
    'tcp.options.tfo.cookie',
    'tcp.options.mptcp.sendkey',
    'tcp.options.mptcp.recvkey',
    'tcp.options.mptcp.rawdataack',
    'tcp.options.mptcp.rawdataseqno',
    'tcp.options.mptcp.subflowseqno',
    'tcp.options.mptcp.datalvllen',
  ];
  const out = execFileSync(
    'tshark',
    ['-r', pcap, '-Y', 'tcp', '-T', 'fields', '-E', 'occurrence=f', ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  const big = (s: string) => (s ? BigInt(s) : undefined);
  const num = (s: string) => (s ? Number(s) : undefined);
  const flag = (s: string) => s === '1' || s === 'True';
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split('\t');
      return {
        stream: Number(f[0]),
        src: f[1],
        syn: flag(f[2]),
        ack: flag(f[3]),
        seq: Number(f[4]),
        ackNo: Number(f[5]),
        len: Number(f[6]),
        tfoCookie: f[7] !== '',
        sendKey: big(f[8]),
        recvKey: big(f[9]),
        dataAck: big(f[10]),
        dsn: big(f[11]),
        ssn: num(f[12]),
        dll: num(f[13]),
      };
    });
}

const low32 = (v: bigint) => Number(v & 0xffffffffn);

/**
 * The 0-RTT connection on the wire, `client` the address that opened it: its SYN carried a cookie
 * and data, the SYN/ACK acknowledged the data; from the client's key (third ACK) its IDSN; every
 * DSS mapping of the client has DSN - (IDSN + 1) = SSN - 1 (one subflow), SSN no later than its
 * segment's sequence number counted from after the SYN's data; the server's last DATA_ACK is
 * IDSN + 1 + the bytes after the SYN's data + 1 (the DATA_FIN).
 */
function expectZeroRttWire(pkts: Pkt[], client: string, bytes: number): { synLen: number; maps: number } {
  const syns = pkts.filter((p) => p.syn && !p.ack && p.src === client && p.len > 0);
  expect(syns.length, 'exactly one SYN with data').toBe(1);
  const syn = syns[0];
  expect(syn.tfoCookie).toBe(true);
  const st = pkts.filter((p) => p.stream === syn.stream);
  const synAck = st.find((p) => p.syn && p.ack && p.src !== client)!;
  expect(synAck).toBeDefined();
  expect(synAck.ackNo).toBe((syn.seq + 1 + syn.len) >>> 0); // the SYN's data taken whole
  const third = st.find(
    (p) => !p.syn && p.src === client && p.recvKey !== undefined && p.sendKey !== undefined,
  );
  expect(third, "the client's MP_CAPABLE with both keys").toBeDefined();
  const key = Buffer.alloc(8);
  key.writeBigUInt64BE(third!.sendKey!);
  const idsn = keyIdsn(key);
  const idsn1 = (idsn.low + 1) >>> 0;
  let maps = 0;
  for (const p of st) {
    if (p.src !== client || p.dsn === undefined || p.ssn === undefined || !p.dll || p.len === 0) continue;
    maps++;
    const rel = (p.seq - syn.seq - 1 - syn.len) >>> 0; // offset after the SYN's data
    expect((low32(p.dsn) - idsn1) >>> 0).toBe(p.ssn - 1);
    expect(p.ssn).toBeGreaterThanOrEqual(1);
    expect(p.ssn).toBeLessThanOrEqual(rel + 1);
    expect(p.ssn + p.dll).toBeGreaterThan(rel + 1);
  }
  expect(maps).toBeGreaterThan(0);
  const acks = st.filter((p) => p.src !== client && p.dataAck !== undefined).map((p) => low32(p.dataAck!));
  expect(acks.length).toBeGreaterThan(0);
  const rels = acks.map((a) => (a - idsn1) >>> 0);
  expect(Math.max(...rels)).toBe(bytes - syn.len + 1);
  return { synLen: syn.len, maps };
}

describe('MPTCP with TCP Fast Open, interop with the Linux kernel (RFC 8684 appendix B.1)', () => {
  it.each(['0', '1'])(
    'a kernel MPTCP client with TCP_FASTOPEN_CONNECT to our server, checksum_enabled=%s: the second connection is 0-RTT, 2 MB each way',
    async (csum) => {
      ns = new Netns('mptfo');
      const pcap = join(dist, 'tfo-server.pcap');
      const r = await transfer(ns, dist, {
        ourRole: 'server',
        bytes: 2 * MB,
        mptcp: true,
        conns: 2,
        sysctl: { 'net.ipv4.tcp_fastopen': '1', 'net.mptcp.checksum_enabled': csum }, // client bit
        args: ['--fast-open', '--pcap', pcap],
        peerArgs: ['--tfo'],
        timeoutMs: 60_000,
      });
      expectAllIntact(r, 2, 2 * MB);
      const mib = (r.ours as unknown as { mib: Record<string, number> }).mib;
      expect(mib.TCPFastOpenCookieReqd).toBe(1);
      expect(mib.TCPFastOpenPassive).toBe(1);
      expect(mib.TCPFastOpenPassiveFail).toBe(0);
      expect(r.nstat.TcpExtTCPFastOpenActive).toBe(1);
      expect(r.nstat.TcpExtTCPFastOpenActiveFail).toBeUndefined();
      expect(r.nstat.MPTcpExtMPCapableSYNTX).toBe(2);
      expect(r.nstat.MPTcpExtMPCapableSYNACKRX).toBe(2);
      expect(r.nstat.MPTcpExtMPCapableFallbackSYNACK).toBeUndefined();
      expect(r.nstat.MPTcpExtDSSNotMatching).toBeUndefined();
      expect(r.ours.mptcp).toBe(true);
      // With the DSS checksum, over the wire's SSNs (after the SYN's data): both sides verified all.
      expect(r.ours.checksum).toBe(csum === '1');
      expect(r.ours.mptcpMib?.DataCsumErr).toBe(0);
      expect(r.nstat.MPTcpExtDataCsumErr).toBeUndefined();
      expect(r.ours.mptcpMib?.DSSNoMatchTCP).toBe(0);
      // The kernel numbers what follows its SYN's data from IDSN + 1 and SSN 1; our DATA_ACKs count
      // only what came after the SYN's data.
      const w = expectZeroRttWire(readCapture(pcap), KERNEL, 2 * MB);
      expect(w.synLen).toBeGreaterThan(0);
    },
    120_000,
  );

  it.each(['0', '1'])(
    'our MPTCP client with Fast Open to a kernel MPTCP server with TCP_FASTOPEN, checksum_enabled=%s: the second connection is 0-RTT, 2 MB each way',
    async (csum) => {
      ns = new Netns('mptfo');
      const pcap = join(dist, 'tfo-client.pcap');
      const r = await transfer(ns, dist, {
        ourRole: 'client',
        bytes: 2 * MB,
        mptcp: true,
        conns: 2,
        sysctl: { 'net.ipv4.tcp_fastopen': '3', 'net.mptcp.checksum_enabled': csum }, // both bits
        args: ['--fast-open', '--pcap', pcap],
        peerArgs: ['--tfo'],
        timeoutMs: 60_000,
      });
      expectAllIntact(r, 2, 2 * MB);
      const mib = (r.ours as unknown as { mib: Record<string, number> }).mib;
      expect(mib.TCPFastOpenActive).toBe(1);
      expect(mib.TCPFastOpenActiveFail).toBe(0);
      expect(r.nstat.TcpExtTCPFastOpenPassive).toBe(1);
      expect(r.nstat.TcpExtTCPFastOpenCookieReqd).toBe(1);
      expect(r.nstat.MPTcpExtMPCapableSYNRX).toBe(2);
      expect(r.nstat.MPTcpExtMPCapableACKRX).toBe(2);
      expect(r.nstat.MPTcpExtMPCapableFallbackACK).toBeUndefined();
      expect(r.nstat.MPTcpExtDSSNotMatching).toBeUndefined();
      expect(r.nstat.MPTcpExtDSSNoMatchTCP).toBeUndefined();
      expect(r.ours.mptcp).toBe(true);
      // With the DSS checksum, over the wire's SSNs (after the SYN's data): both sides verified all.
      expect(r.ours.checksum).toBe(csum === '1');
      expect(r.ours.mptcpMib?.DataCsumErr).toBe(0);
      expect(r.nstat.MPTcpExtDataCsumErr).toBeUndefined();
      // Ours numbers what follows the SYN's data from IDSN + 1 and SSN 1; the kernel's DATA_ACKs
      // count only what came after it.
      const w = expectZeroRttWire(readCapture(pcap), OURS, 2 * MB);
      expect(w.synLen).toBeGreaterThan(0);
    },
    120_000,
  );
});
