// Cross-check against the real thing: the Linux kernel's MPTCP moves 2 MB each way between two
// namespaces over two paths (MP_CAPABLE, two MP_JOINs, an ADD_ADDR and its echo, DATA_FIN), tcpdump
// captures every packet, and our wire layer and crypto must agree with the kernel on all of it:
// every packet parses, every MPTCP option re-emits byte for byte, tokens, IDSNs, HMACs, TCP and DSS
// checksums verify, and the DSS mappings rebuild exactly the bytes the peer sent.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { addAddrHmac, joinAckHmac, joinSynAckHmac, keyIdsn, keyToken } from '../../src/crypto/index.js';
import { isPcapError, type PcapPacket, readPcap } from '../../src/io/pcap.js';
import {
  dssChecksum,
  emitMptcpOption,
  emitTcpOptions,
  isWireError,
  MPC_FLAG,
  type MptcpOption,
  PacketView,
  parseMptcpOption,
  parsePacket,
  parseTcpOptions,
  sumWords,
  TCP_FLAG,
  TCPOPT,
  TcpOptionCursor,
} from '../../src/wire/index.js';
import { Netns, waitFor } from './lib/netns.js';

const SIZE = 2_000_000;
const PORT = 5201;
const FIXTURE = fileURLToPath(new URL('./fixtures/mptcp_transfer.py', import.meta.url));
const TWO_64 = 1n << 64n;
const TWO_32 = 1n << 32n;

interface Topology {
  family: 4 | 6;
  prefixLen: number;
  /** Path 1 and path 2 addresses of each side; the server announces its second one (ADD_ADDR). */
  client: [string, string];
  server: [string, string];
}

const V4: Topology = {
  family: 4,
  prefixLen: 24,
  client: ['198.18.1.1', '198.18.2.1'],
  server: ['198.18.1.2', '198.18.2.2'],
};
const V6: Topology = {
  family: 6,
  prefixLen: 64,
  client: ['2001:db8:1::1', '2001:db8:2::1'],
  server: ['2001:db8:1::2', '2001:db8:2::2'],
};

// ---------------------------------------------------------------------------------------------
// Running the kernel

/** A child process with its output collected. */
class Proc {
  stdout = '';
  stderr = '';
  readonly closed: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    readonly what: string,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.closed = new Promise((resolve) => child.on('close', () => resolve()));
  }

  get done(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Waits until the stream matches `pattern`; fails at once if the process ends first. */
  async printed(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      `${this.what} to print ${pattern}`,
      () => {
        if (pattern.test(this[stream])) return true;
        if (this.done) throw new Error(`${this.what} ended early:\n${this.stdout}${this.stderr}`);
        return false;
      },
      timeoutMs,
    );
  }

  /** Waits for the process to end and its output to be read; fails unless it exited with 0. */
  async success(timeoutMs = 20_000): Promise<void> {
    await waitFor(`${this.what} to finish`, () => this.done, timeoutMs);
    await this.closed;
    if (this.child.exitCode !== 0) {
      throw new Error(
        `${this.what} failed (${this.child.exitCode ?? this.child.signalCode}):\n${this.stderr}`,
      );
    }
  }

  lastJson<T>(): T {
    const lines = this.stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1]) as T;
  }
}

interface TransferReport {
  received: number;
  receivedSha256: string;
  sent: number;
  sentSha256: string;
  extraSubflows?: number;
}

interface Capture {
  packets: PcapPacket[];
  client: TransferReport;
  server: TransferReport;
  /** tcpdump's "dropped by kernel" counts, one per capture. */
  dropped: number[];
}

/**
 * Two namespaces joined by two veth pairs; the client has a "subflow" endpoint on its second
 * address (one MP_JOIN from it to the server's first address) and the server a "signal" endpoint on
 * its second (an ADD_ADDR, which the client answers with an echo and a second MP_JOIN). tcpdump
 * captures both client interfaces while python3 moves SIZE bytes each way over IPPROTO_MPTCP.
 */
async function runKernelTransfer(
  net: Netns,
  dir: string,
  topo: Topology,
  checksum: boolean,
): Promise<Capture> {
  net.add('cli');
  net.add('srv');
  net.veth('cli', 'c1', 'srv', 's1');
  net.veth('cli', 'c2', 'srv', 's2');
  const nodad = topo.family === 6 ? ' nodad' : '';
  for (const [ns, dev, addr] of [
    ['cli', 'c1', topo.client[0]],
    ['cli', 'c2', topo.client[1]],
    ['srv', 's1', topo.server[0]],
    ['srv', 's2', topo.server[1]],
  ]) {
    net.sh(ns, `ip addr add ${addr}/${topo.prefixLen} dev ${dev}${nodad}`);
    // Checksums computed in software before the capture point, so that they are real on the wire.
    net.sh(ns, `ethtool -K ${dev} tx off rx off tso off gso off gro off >/dev/null`);
  }
  for (const ns of ['cli', 'srv']) {
    net.sh(ns, `sysctl -q -w net.mptcp.enabled=1 net.mptcp.checksum_enabled=${checksum ? 1 : 0}`);
    net.sh(ns, 'ip mptcp limits set subflows 2 add_addr_accepted 2');
  }
  // The subflow from the client's second address to the server's first goes out of c2, with the
  // server's second address as next hop (IPv6 neighbour discovery answers per interface only).
  net.sh('cli', `ip -${topo.family} rule add from ${topo.client[1]} table 102`);
  net.sh('cli', `ip -${topo.family} route add default via ${topo.server[1]} dev c2 table 102`);
  net.sh('cli', `ip mptcp endpoint add ${topo.client[1]} dev c2 subflow`);
  net.sh('srv', `ip mptcp endpoint add ${topo.server[1]} dev s2 signal`);

  const dumps = ['c1', 'c2'].map((dev) => {
    const file = join(dir, `${dev}.pcap`);
    // Immediate mode: each packet reaches tcpdump at once, not when a ring block fills or times out;
    // a 64 MB ring so that the bursts of a veth never overrun it.
    const argv = ['tcpdump', '-n', '--immediate-mode', '-B', '65536', '-i', dev, '-w', file, '-s', '0', '-U'];
    const p = new Proc(net.spawn('cli', argv), `tcpdump -i ${dev}`);
    return { file, p };
  });
  for (const d of dumps) await d.p.printed('stderr', /listening on/);

  const py = (role: string, ...args: (string | number)[]) =>
    new Proc(
      net.spawn(role === 'server' ? 'srv' : 'cli', ['python3', FIXTURE, role, ...args.map(String)]),
      `python ${role}`,
    );
  const server = py('server', topo.server[0], PORT, SIZE);
  await server.printed('stdout', /"listening"/);
  const client = py('client', topo.server[0], PORT, SIZE, 2);
  await client.success();
  await server.success();

  // Every subflow closed (TIME-WAIT at most) on both sides: the last segments are on the wire.
  await waitFor('the subflows to close', () =>
    ['cli', 'srv'].every((ns) => net.sh(ns, 'ss -Htn state connected exclude time-wait').trim() === ''),
  );
  // tcpdump writes every packet as it gets it (-U): once the files stop growing it has them all.
  let sizes = '';
  await waitFor(
    'the captures to settle',
    () => {
      const now = dumps.map((d) => statSync(d.file).size).join(',');
      const settled = now === sizes;
      sizes = now;
      return settled;
    },
    10_000,
    200,
  );
  const dropped: number[] = [];
  for (const d of dumps) {
    d.p.child.kill('SIGINT');
    await d.p.success(5_000);
    dropped.push(Number(/(\d+) packets? dropped by kernel/.exec(d.p.stderr)?.[1] ?? Number.NaN));
  }

  const packets: PcapPacket[] = [];
  for (const d of dumps) {
    const r = readPcap(readFileSync(d.file));
    if (isPcapError(r)) throw new Error(`${d.file}: ${r}`);
    packets.push(...r);
  }
  // One clock for both captures: merge them in time order (the sort is stable for equal stamps).
  packets.sort((a, b) => a.sec - b.sec || a.nsec - b.nsec);
  return {
    packets,
    client: client.lastJson<TransferReport>(),
    server: server.lastJson<TransferReport>(),
    dropped,
  };
}

// ---------------------------------------------------------------------------------------------
// Looking at the capture

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const u64 = (high: number, low: number) => (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);

interface Flow {
  /** Initial sequence number, from the SYN. */
  isn?: number;
  segments: { seq: number; payload: Uint8Array }[];
}

interface Mapping {
  flow: string;
  fromClient: boolean;
  /** 64-bit DSN as sent, or the low 32 bits to expand (dsn64 false). */
  dsn: bigint;
  dsn64: boolean;
  /** Data on the MP_CAPABLE third ACK: no DSN on the wire, it is IDSN + 1 (RFC 8684 section 3.1). */
  implied?: boolean;
  ssn: number;
  dataLen: number;
  dataFin: boolean;
  checksum?: number;
}

interface Join {
  syn?: { token: number; nonce: number; addressId: number };
  synack?: { hmac: Uint8Array; nonce: number; addressId: number };
  ack?: { hmac: Uint8Array };
}

interface AddAddrSeen {
  fromClient: boolean;
  addressId: number;
  address: Uint8Array;
  port?: number;
  hmac?: Uint8Array;
}

/** What the capture held: counts, the facts the crypto checks need, and every discrepancy found. */
class Analysis {
  packets = 0;
  tcpPackets = 0;
  mptcpOptions = 0;
  optionAreas = 0;
  /** Option forms seen (RFC 8684 section 3): MP_CAPABLE and MP_JOIN per handshake packet, etc. */
  readonly seen = {
    mpcSyn: 0,
    mpcSynAck: 0,
    mpcAck: 0,
    mpcData: 0,
    joinSyn: 0,
    joinSynAck: 0,
    joinAck: 0,
    dssMapping: 0,
    dssDataAck: 0,
    dataFinFromClient: 0,
    dataFinFromServer: 0,
    addAddr: 0,
    addAddrEcho: 0,
  };
  /** The MP_CAPABLE "A" flag (checksum required) of the SYN and SYN/ACK. */
  mpcChecksumFlags: boolean[] = [];
  clientKey?: Uint8Array;
  serverKey?: Uint8Array;
  /** The server's key as echoed by the client in the third ACK. */
  serverKeyEchoed?: Uint8Array;
  readonly flows = new Map<string, Flow>();
  readonly mappings = new Map<string, Mapping>();
  readonly joins = new Map<string, Join>();
  readonly addAddrs: AddAddrSeen[] = [];
  /** Data ACKs by sender: the 64-bit value, or the low 32 bits. */
  readonly dataAcks: { fromClient: boolean; ack: bigint; ack64: boolean }[] = [];

  readonly parseErrors: string[] = [];
  readonly badTcpChecksums: string[] = [];
  readonly optionMismatches: string[] = [];
  readonly areaMismatches: string[] = [];
}

function flowKey(v: PacketView, reverse = false): string {
  const ip = v.version === 4 ? v.v4 : v.v6;
  const alen = v.version === 4 ? 4 : 16;
  const src = `${hex(ip.buf.subarray(ip.srcOff, ip.srcOff + alen))}:${v.tcp.srcPort}`;
  const dst = `${hex(ip.buf.subarray(ip.dstOff, ip.dstOff + alen))}:${v.tcp.dstPort}`;
  return reverse ? `${dst}>${src}` : `${src}>${dst}`;
}

function analyse(packets: PcapPacket[]): Analysis {
  const a = new Analysis();
  const view = new PacketView();
  const cursor = new TcpOptionCursor();
  const area = new Uint8Array(64);
  const one = new Uint8Array(64);

  packets.forEach((pkt, i) => {
    a.packets++;
    const where = `packet ${i} (${pkt.data.length} bytes)`;
    const err = view.wrap(pkt.data);
    const full = parsePacket(pkt.data);
    if (err || isWireError(full)) {
      a.parseErrors.push(`${where}: ${err ?? full}: ${hex(pkt.data.subarray(0, 120))}`);
      return;
    }
    if (!view.isTcp) return;
    a.tcpPackets++;
    const t = view.tcp;
    const b = t.buf;
    if (!view.tcpChecksumOk()) a.badTcpChecksums.push(`${where}: checksum 0x${t.checksum.toString(16)}`);

    const key = flowKey(view);
    // The server listens on PORT; everything else is the client's side.
    const fromClient = t.srcPort !== PORT;
    let flow = a.flows.get(key);
    if (!flow) {
      flow = { segments: [] };
      a.flows.set(key, flow);
    }
    const syn = (t.flags & TCP_FLAG.syn) !== 0;
    const ack = (t.flags & TCP_FLAG.ack) !== 0;
    if (syn) flow.isn = t.seq;
    if (t.payloadLen > 0)
      flow.segments.push({ seq: t.seq, payload: b.subarray(t.payloadOff, t.payloadOff + t.payloadLen) });

    // The whole options area re-emitted from its parsed form (emitTcpOptions pads with EOL).
    const original = b.subarray(t.optionsOff, t.optionsOff + t.optionsLen);
    const opts = parseTcpOptions(b, t.optionsOff, t.optionsLen);
    if (isWireError(opts)) {
      a.parseErrors.push(`${where}: options: ${opts}: ${hex(original)}`);
      return;
    }
    a.optionAreas++;
    const n = emitTcpOptions(opts, area, 0);
    if (!same(area.subarray(0, n), original)) {
      a.areaMismatches.push(`${where}: kernel ${hex(original)} re-emitted ${hex(area.subarray(0, n))}`);
    }

    cursor.reset(b, t.optionsOff, t.optionsLen);
    while (cursor.next()) {
      if (cursor.kind !== TCPOPT.mptcp) continue;
      const bytes = b.subarray(cursor.o, cursor.o + cursor.n);
      const opt = parseMptcpOption(b, cursor.o, cursor.n);
      if (isWireError(opt)) {
        a.parseErrors.push(`${where}: MPTCP option ${hex(bytes)}: ${opt}`);
        continue;
      }
      a.mptcpOptions++;
      one.fill(0);
      const m = emitMptcpOption(opt, one, 0);
      if (!same(one.subarray(0, m), bytes)) {
        a.optionMismatches.push(`${where}: kernel ${hex(bytes)} re-emitted ${hex(one.subarray(0, m))}`);
      }
      record(a, opt, { key, reverseKey: flowKey(view, true), fromClient, syn, ack });
    }
  });
  return a;
}

/** Files one parsed MPTCP option under what the later checks need. */
function record(
  a: Analysis,
  opt: MptcpOption,
  at: { key: string; reverseKey: string; fromClient: boolean; syn: boolean; ack: boolean },
): void {
  const join = (k: string) => {
    let j = a.joins.get(k);
    if (!j) {
      j = {};
      a.joins.set(k, j);
    }
    return j;
  };
  switch (opt.type) {
    case 'mp_capable':
      // RFC 8684 section 3.1: no key on the SYN, the responder's key on the SYN/ACK, both keys on
      // the third ACK, and both keys with a data-level length when the ACK carries data.
      if (at.syn && !at.ack && !opt.senderKey) {
        a.seen.mpcSyn++;
        a.mpcChecksumFlags.push((opt.flags & MPC_FLAG.checksum) !== 0);
      } else if (at.syn && at.ack && opt.senderKey && !opt.receiverKey) {
        a.seen.mpcSynAck++;
        a.serverKey = opt.senderKey;
        a.mpcChecksumFlags.push((opt.flags & MPC_FLAG.checksum) !== 0);
      } else if (!at.syn && opt.senderKey && opt.receiverKey) {
        if (opt.dataLen === undefined) a.seen.mpcAck++;
        else {
          a.seen.mpcData++;
          // The first data of the connection, on the first byte of the subflow.
          a.mappings.set(`${at.key}|mpc`, {
            flow: at.key,
            fromClient: at.fromClient,
            dsn: 0n,
            dsn64: false,
            implied: true,
            ssn: 1,
            dataLen: opt.dataLen,
            dataFin: false,
            checksum: opt.checksum,
          });
        }
        a.clientKey = opt.senderKey;
        a.serverKeyEchoed = opt.receiverKey;
      }
      break;
    case 'mp_join':
      if (opt.form === 'syn') {
        a.seen.joinSyn++;
        join(at.key).syn = { token: opt.token, nonce: opt.nonce, addressId: opt.addressId };
      } else if (opt.form === 'synack') {
        a.seen.joinSynAck++;
        join(at.reverseKey).synack = { hmac: opt.hmac, nonce: opt.nonce, addressId: opt.addressId };
      } else {
        a.seen.joinAck++;
        join(at.key).ack = { hmac: opt.hmac };
      }
      break;
    case 'dss':
      if (opt.dataAck !== undefined) {
        a.seen.dssDataAck++;
        const ack64 = opt.dataAckHigh !== undefined;
        a.dataAcks.push({ fromClient: at.fromClient, ack: u64(opt.dataAckHigh ?? 0, opt.dataAck), ack64 });
      }
      if (opt.dataFin) {
        if (at.fromClient) a.seen.dataFinFromClient++;
        else a.seen.dataFinFromServer++;
      }
      if (opt.dsn !== undefined) {
        a.seen.dssMapping++;
        const m: Mapping = {
          flow: at.key,
          fromClient: at.fromClient,
          dsn: u64(opt.dsnHigh ?? 0, opt.dsn),
          dsn64: opt.dsnHigh !== undefined,
          ssn: opt.ssn ?? 0,
          dataLen: opt.dataLen ?? 0,
          dataFin: opt.dataFin,
          checksum: opt.checksum,
        };
        // A mapping is repeated on every segment it covers: keep one of each.
        a.mappings.set(`${m.flow}|${m.dsn}|${m.ssn}|${m.dataLen}|${m.dataFin}`, m);
      }
      break;
    case 'add_addr':
      if (opt.echo) a.seen.addAddrEcho++;
      else a.seen.addAddr++;
      a.addAddrs.push({
        fromClient: at.fromClient,
        addressId: opt.addressId,
        address: opt.address,
        port: opt.port,
        hmac: opt.hmac,
      });
      break;
    default:
      break;
  }
}

const idsn64 = (key: Uint8Array) => {
  const i = keyIdsn(key);
  return u64(i.high, i.low);
};

/** A mapping's full 64-bit DSN: as sent, or a 32-bit one expanded next to the sender's IDSN. */
function resolveDsn(m: Mapping, idsn: bigint): bigint {
  if (m.implied) return (idsn + 1n) % TWO_64;
  if (m.dsn64) return m.dsn;
  const base = idsn - (idsn % TWO_32);
  let best = (base + m.dsn) % TWO_64;
  for (const c of [base - TWO_32 + m.dsn, base + TWO_32 + m.dsn]) {
    const cand = ((c % TWO_64) + TWO_64) % TWO_64;
    if (dist(cand, idsn) < dist(best, idsn)) best = cand;
  }
  return best;
}

function dist(x: bigint, y: bigint): bigint {
  const d = (((x - y) % TWO_64) + TWO_64) % TWO_64;
  return d < TWO_64 - d ? d : TWO_64 - d;
}

/** One direction of a subflow reassembled by relative sequence number (the SYN is number 0). */
interface Stream {
  bytes: Uint8Array;
  have: Uint8Array;
}

function reassemble(flow: Flow): Stream | undefined {
  if (flow.isn === undefined) return undefined;
  const isn = flow.isn;
  const rel = (seq: number) => (seq - isn) >>> 0;
  let end = 0;
  for (const s of flow.segments) end = Math.max(end, rel(s.seq) + s.payload.length);
  const bytes = new Uint8Array(end);
  const have = new Uint8Array(end);
  for (const s of flow.segments) {
    bytes.set(s.payload, rel(s.seq));
    have.fill(1, rel(s.seq), rel(s.seq) + s.payload.length);
  }
  return { bytes, have };
}

const covered = (s: Stream, from: number, len: number) =>
  from + len <= s.have.length && s.have.subarray(from, from + len).every((x) => x === 1);

interface DataCheck {
  mappings: number;
  checksumsVerified: number;
  checksumFailures: string[];
  /** Mappings whose subflow bytes were not all in the capture. */
  uncovered: number;
  /** The data stream rebuilt from the mappings, per sender. */
  rebuilt: { client: Uint8Array; server: Uint8Array };
  rebuiltComplete: { client: boolean; server: boolean };
  lowestDsn: { client: bigint; server: bigint };
  dataFinDsn: { client: bigint[]; server: bigint[] };
}

/**
 * RFC 8684 section 3.3.1: each mapping ties dataLen bytes of the subflow, from the relative subflow
 * sequence number ssn, to the data sequence space from dsn; a DATA_FIN in the mapping takes one more
 * octet of data sequence space but none of the subflow's (section 3.3.3). With checksums, the DSS
 * checksum covers the mapped payload and the pseudo-header (DSN, ssn, data-level length, checksum).
 */
function checkMappings(a: Analysis, idsn: { client: bigint; server: bigint }): DataCheck {
  const streams = new Map<string, Stream | undefined>();
  const out: DataCheck = {
    mappings: a.mappings.size,
    checksumsVerified: 0,
    checksumFailures: [],
    uncovered: 0,
    rebuilt: { client: new Uint8Array(SIZE), server: new Uint8Array(SIZE) },
    rebuiltComplete: { client: false, server: false },
    lowestDsn: { client: -1n, server: -1n },
    dataFinDsn: { client: [], server: [] },
  };
  const filled = { client: new Uint8Array(SIZE), server: new Uint8Array(SIZE) };
  for (const m of a.mappings.values()) {
    const side = m.fromClient ? 'client' : 'server';
    const dsn = resolveDsn(m, idsn[side]);
    const relDsn = Number((((dsn - idsn[side] - 1n) % TWO_64) + TWO_64) % TWO_64);
    const payloadLen = m.dataFin ? m.dataLen - 1 : m.dataLen;
    if (m.dataFin) out.dataFinDsn[side].push(dsn + BigInt(payloadLen));
    if (payloadLen > 0 && (out.lowestDsn[side] < 0n || dsn < out.lowestDsn[side])) out.lowestDsn[side] = dsn;

    if (!streams.has(m.flow)) streams.set(m.flow, reassemble(a.flows.get(m.flow)!));
    const s = streams.get(m.flow);
    if (payloadLen > 0 && (!s || !covered(s, m.ssn, payloadLen))) {
      out.uncovered++;
      continue;
    }
    const payload = payloadLen > 0 && s ? s.bytes.subarray(m.ssn, m.ssn + payloadLen) : new Uint8Array(0);
    if (relDsn + payloadLen <= SIZE) {
      out.rebuilt[side].set(payload, relDsn);
      filled[side].fill(1, relDsn, relDsn + payloadLen);
    }
    if (m.checksum !== undefined) {
      const dsnHigh = Number(dsn >> 32n);
      const dsnLow = Number(dsn & 0xffffffffn);
      const r = dssChecksum(
        dsnHigh,
        dsnLow,
        m.ssn,
        m.dataLen,
        m.checksum,
        sumWords(payload, 0, payload.length),
      );
      if (r === 0) out.checksumsVerified++;
      else {
        out.checksumFailures.push(
          `${m.flow} dsn ${dsn} ssn ${m.ssn} len ${m.dataLen}${m.dataFin ? ' +FIN' : ''}: ` +
            `checksum 0x${m.checksum.toString(16)} leaves 0x${r.toString(16)}`,
        );
      }
    }
  }
  out.rebuiltComplete.client = filled.client.every((x) => x === 1);
  out.rebuiltComplete.server = filled.server.every((x) => x === 1);
  return out;
}

/** The highest data ACK each side sent, relative to the first data byte of the other side. */
function highestDataAck(a: Analysis, fromClient: boolean, peerIdsn: bigint): bigint {
  let best = -1n;
  for (const d of a.dataAcks) {
    if (d.fromClient !== fromClient) continue;
    const rel = d.ack64
      ? (((d.ack - peerIdsn - 1n) % TWO_64) + TWO_64) % TWO_64
      : (((d.ack - (peerIdsn + 1n)) % TWO_32) + TWO_32) % TWO_32;
    // 32-bit ACKs are taken modulo 2^32, which the 2 MB transfer never reaches.
    if (rel <= BigInt(SIZE) + 1n && rel > best) best = rel;
  }
  return best;
}

function addrBytes(family: 4 | 6, addr: string): Uint8Array {
  if (family === 4) return Uint8Array.from(addr.split('.').map(Number));
  const [head, tail = ''] = addr.split('::');
  const groups = (s: string) => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return Uint8Array.from(all.flatMap((g) => [g >> 8, g & 0xff]));
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------

describe('kernel MPTCP over two paths, captured and cross-checked with our wire layer', () => {
  let net: Netns | undefined;
  let dir: string | undefined;

  afterEach(() => {
    net?.cleanup();
    net = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it.each([
    { name: 'IPv4, DSS checksums off', topo: V4, checksum: false },
    { name: 'IPv4, DSS checksums on', topo: V4, checksum: true },
    { name: 'IPv6, DSS checksums on', topo: V6, checksum: true },
  ])('$name', async ({ topo, checksum }) => {
    net = new Netns('mc');
    dir = mkdtempSync(join(tmpdir(), 'ha-mptcp-cap-'));
    const cap = await runKernelTransfer(net, dir, topo, checksum);

    // The transfer itself, verified end to end by python.
    expect(cap.client.sent).toBe(SIZE);
    expect(cap.server.received).toBe(SIZE);
    expect(cap.server.receivedSha256).toBe(cap.client.sentSha256);
    expect(cap.client.received).toBe(SIZE);
    expect(cap.client.receivedSha256).toBe(cap.server.sentSha256);
    expect(cap.client.extraSubflows).toBe(2);
    expect(cap.dropped).toEqual([0, 0]);

    const a = analyse(cap.packets);
    // Every captured packet parses; every TCP checksum verifies (offloads are off).
    expect(a.parseErrors).toEqual([]);
    expect(a.badTcpChecksums).toEqual([]);
    // Every MPTCP option, and every whole options area, re-emits byte for byte.
    expect(a.optionMismatches).toEqual([]);
    expect(a.areaMismatches).toEqual([]);
    expect(a.tcpPackets).toBeGreaterThan(1000);

    // The option forms of RFC 8684 section 3 that this exchange must produce.
    expect(a.seen.mpcSyn).toBeGreaterThanOrEqual(1);
    expect(a.seen.mpcSynAck).toBeGreaterThanOrEqual(1);
    expect(a.seen.mpcAck + a.seen.mpcData).toBeGreaterThanOrEqual(1);
    expect(a.seen.joinSyn).toBeGreaterThanOrEqual(2);
    expect(a.seen.joinSynAck).toBeGreaterThanOrEqual(2);
    expect(a.seen.joinAck).toBeGreaterThanOrEqual(2);
    expect(a.seen.dssMapping).toBeGreaterThan(0);
    expect(a.seen.dssDataAck).toBeGreaterThan(0);
    expect(a.seen.addAddr).toBeGreaterThanOrEqual(1);
    expect(a.seen.addAddrEcho).toBeGreaterThanOrEqual(1);
    expect(a.seen.dataFinFromClient).toBeGreaterThanOrEqual(1);
    expect(a.seen.dataFinFromServer).toBeGreaterThanOrEqual(1);
    // RFC 8684 section 3.1: flag A asks for DSS checksums; both sides set it exactly when enabled.
    expect(a.mpcChecksumFlags.length).toBeGreaterThanOrEqual(2);
    expect(a.mpcChecksumFlags.every((f) => f === checksum)).toBe(true);

    const clientKey = a.clientKey!;
    const serverKey = a.serverKey!;
    expect(clientKey).toBeDefined();
    expect(serverKey).toBeDefined();
    expect(hex(a.serverKeyEchoed!)).toBe(hex(serverKey));

    // RFC 8684 section 3.2: the MP_JOIN SYN names the connection by the token of the receiver's
    // (the server's) key; the SYN/ACK carries the server's HMAC (server key and nonce first,
    // leftmost 64 bits), the third ACK the client's (client key and nonce first, leftmost 160).
    const token = keyToken(serverKey);
    const joins = [...a.joins.values()];
    expect(joins.length).toBe(2);
    for (const j of joins) {
      expect(j.syn && j.synack && j.ack).toBeTruthy();
      const { syn, synack, ack } = j as Required<Join>;
      expect(syn.token.toString(16)).toBe(token.toString(16));
      expect(hex(synack.hmac)).toBe(hex(joinSynAckHmac(serverKey, clientKey, synack.nonce, syn.nonce)));
      expect(hex(ack.hmac)).toBe(hex(joinAckHmac(clientKey, serverKey, syn.nonce, synack.nonce)));
    }

    // RFC 8684 section 3.4.1: the server announces its second address with the rightmost 64 bits
    // of HMAC(server key + client key, ID + address + port); the client echoes it without HMAC.
    const announced = a.addAddrs.filter((x) => !x.fromClient && x.hmac);
    const echoes = a.addAddrs.filter((x) => x.fromClient && !x.hmac);
    expect(announced.length).toBeGreaterThanOrEqual(1);
    for (const x of announced) {
      expect(hex(x.address)).toBe(hex(addrBytes(topo.family, topo.server[1])));
      expect(hex(x.hmac!)).toBe(hex(addAddrHmac(serverKey, clientKey, x.addressId, x.address, x.port ?? 0)));
      expect(echoes.some((e) => e.addressId === x.addressId && same(e.address, x.address))).toBe(true);
    }
    expect(a.addAddrs.length).toBe(announced.length + echoes.length);

    // RFC 8684 sections 3.1 and 3.3: data sequence numbers start at IDSN + 1, each mapping puts
    // subflow bytes at their place in the data stream, DATA_FIN takes the octet after the last
    // byte, and the last data ACK of each side acknowledges it.
    const idsn = { client: idsn64(clientKey), server: idsn64(serverKey) };
    const d = checkMappings(a, idsn);
    expect(d.lowestDsn.client).toBe(idsn.client + 1n);
    expect(d.lowestDsn.server).toBe(idsn.server + 1n);
    expect(d.uncovered).toBe(0);
    expect(d.rebuiltComplete).toEqual({ client: true, server: true });
    expect(sha256(d.rebuilt.client)).toBe(cap.client.sentSha256);
    expect(sha256(d.rebuilt.server)).toBe(cap.server.sentSha256);
    expect(d.dataFinDsn.client.length).toBeGreaterThanOrEqual(1);
    expect(d.dataFinDsn.server.length).toBeGreaterThanOrEqual(1);
    expect(new Set(d.dataFinDsn.client)).toEqual(new Set([idsn.client + 1n + BigInt(SIZE)]));
    expect(new Set(d.dataFinDsn.server)).toEqual(new Set([idsn.server + 1n + BigInt(SIZE)]));
    expect(highestDataAck(a, true, idsn.server)).toBe(BigInt(SIZE) + 1n);
    expect(highestDataAck(a, false, idsn.client)).toBe(BigInt(SIZE) + 1n);

    // RFC 8684 section 3.3.1: the checksum field is there exactly when negotiated, and verifies.
    const withChecksum = [...a.mappings.values()].filter((m) => m.checksum !== undefined).length;
    expect(withChecksum).toBe(checksum ? d.mappings : 0);
    expect(d.checksumFailures).toEqual([]);
    if (checksum) expect(d.checksumsVerified).toBeGreaterThanOrEqual(Math.ceil(d.mappings * 0.9));

    console.log(
      `kernel MPTCP ${topo.family === 4 ? 'IPv4' : 'IPv6'} checksums ${checksum ? 'on' : 'off'}: ` +
        `${a.packets} packets parsed (${a.tcpPackets} TCP, checksums verified), ` +
        `${a.mptcpOptions} MPTCP options and ${a.optionAreas} option areas re-emitted byte for byte, ` +
        `${d.mappings} distinct DSS mappings (${d.checksumsVerified} DSS checksums verified), ` +
        `${joins.length} MP_JOINs and ${announced.length} ADD_ADDR HMACs verified`,
    );
  });
});
