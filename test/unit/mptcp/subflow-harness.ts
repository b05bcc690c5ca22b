// Per-segment harness for an MPTCP subflow's receive side, in the style of test/unit/tcp/harness.ts:
// a client subflow on a real TcpSocket, established with a server that sent its key in the
// SYN/ACK, then one segment in (built as the server would send it, with its DSS option) and what
// the subflow recorded (mappings kept, MIB counters) and delivered to the connection out.
// ServerSubflowHarness: the same for a server subflow, whose first data comes with the MP_CAPABLE.
// As the endpoint does, the harness lets the connection act once after each segment (HarnessHost).
import { type Idsn, keyIdsn, keyToken } from '../../../src/crypto/keys.js';
import {
  DEFAULT_MPTCP_CONFIG,
  type MptcpConfig,
  MptcpConnection,
  MptcpMib,
  StandaloneHost,
} from '../../../src/mptcp/connection.js';
import { fromWire, toWire, type Wire64 } from '../../../src/mptcp/dsn.js';
import { Subflow } from '../../../src/mptcp/subflow.js';
import type { TcpConfig } from '../../../src/tcp/config.js';
import { dssChecksum, sumWords } from '../../../src/wire/checksum.js';
import type { Dss } from '../../../src/wire/mptcp/dss.js';
import { MPC_FLAG } from '../../../src/wire/mptcp/mp-capable.js';
import type { TcpOption } from '../../../src/wire/tcp-options.js';
import { ACK, Harness, LOCAL_ISS, type OutSeg, PSH, REMOTE_ISS } from '../tcp/harness.js';

const CLIENT_KEY = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const SERVER_KEY = Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1);

export interface MapSpec {
  /** Subflow offset of the mapping's first byte (0: the first byte after the SYN). */
  off: number;
  /** Relative DSN (1: the server's IDSN + 1). */
  dsn: number;
  len: number;
  /** With the checksum: the right one over `bytes` (the mapping's payload), or this value. */
  csum?: number;
  bytes?: Uint8Array;
}

/** The endpoint's part: inside a segment's input the connection waits, and acts once after it. */
class HarnessHost extends StandaloneHost {
  inInput = false;
  private readonly waiting: MptcpConnection[] = [];

  override defer(conn: MptcpConnection): boolean {
    if (!this.inInput) return false;
    this.waiting.push(conn);
    return true;
  }

  /** Runs `input` as the endpoint runs a packet's: connections act once at its end. */
  input(input: () => void): void {
    this.inInput = true;
    try {
      input();
    } finally {
      this.inInput = false;
    }
    for (const c of this.waiting.splice(0)) c.afterInput();
  }
}

/** What both ends' harnesses share: the segments the peer sends and what the connection got. */
abstract class PeerHarness {
  readonly tcp: Harness;
  readonly mib = new MptcpMib();
  readonly host = new HarnessHost();
  readonly conn: MptcpConnection;
  readonly sf: Subflow;
  /** The peer's IDSN, that its DSNs count from. */
  protected readonly peerIdsn: Idsn;

  /** Our end as `role`, with key `key`; the peer's key is `peerKey`. */
  constructor(
    role: 'client' | 'server',
    key: Uint8Array,
    peerKey: Uint8Array,
    tcp: Partial<TcpConfig>,
    mptcp: Partial<MptcpConfig>,
  ) {
    this.tcp = new Harness(tcp);
    this.peerIdsn = keyIdsn(peerKey);
    const local = { key, token: keyToken(key), idsn: keyIdsn(key) };
    this.conn = new MptcpConnection(role, local, { ...DEFAULT_MPTCP_CONFIG, ...mptcp }, this.mib, this.host);
    this.sf = new Subflow(this.conn, this.tcp.sock, { wake: () => {} });
  }

  /**
   * The DSS option of a mapping as the peer writes it once it holds both keys: with a DATA_ACK
   * (of what we sent so far), which is what tells a client that the server has its key.
   */
  dss(m: MapSpec, extra: Partial<Dss> = {}): Dss {
    const w: Wire64 = { high: 0, low: 0 };
    toWire(this.peerIdsn, m.dsn, w);
    const a = toWire(this.conn.local.idsn, this.conn.sndUna);
    const d: Dss = {
      type: 'dss',
      dataFin: false,
      dataAck: a.low,
      dataAckHigh: a.high,
      dsnHigh: w.high,
      dsn: w.low,
      ssn: m.off + 1,
      dataLen: m.len,
    };
    if (this.conn.checksum)
      d.checksum =
        m.csum ??
        (m.bytes ? dssChecksum(w.high, w.low, m.off + 1, m.len, 0, sumWords(m.bytes, 0, m.bytes.length)) : 0);
    return { ...d, ...extra };
  }

  /**
   * One segment from the peer: `payload` at subflow offset `off`, with these options, that
   * acknowledges the first `acked` bytes we sent on the subflow (window `window`).
   */
  segment(off: number, payload: Uint8Array, options: TcpOption[] = [], acked = 0, window = 65535): void {
    const seg = {
      seq: REMOTE_ISS + 1 + off,
      ack: LOCAL_ISS + 1 + acked,
      flags: ACK | PSH,
      payload,
      options,
      window,
    };
    this.host.input(() => this.tcp.send(seg));
  }

  /** The peer's DSS with only a DATA_ACK: it has received our data before relative DSN `dsn`. */
  dataAck(dsn: number): Dss {
    const w = toWire(this.conn.local.idsn, dsn);
    return { type: 'dss', dataFin: false, dataAck: w.low, dataAckHigh: w.high };
  }

  /** Our DSS options in `segs` with their DSNs relative to our IDSN (undefined where none). */
  ourDss(
    segs: OutSeg[],
  ): (
    | { dataAck?: number; dsn?: number; ssn?: number; len?: number; fin: boolean; csum?: number }
    | undefined
  )[] {
    return segs.map((s) => {
      const d = s.options.find((o) => o.type === 'dss');
      if (!d) return undefined;
      return {
        dataAck: d.dataAck,
        dsn: d.dsn === undefined ? undefined : fromWire(this.conn.local.idsn, d.dsnHigh ?? 0, d.dsn),
        ssn: d.ssn,
        len: d.dataLen,
        fin: d.dataFin,
        csum: d.checksum,
      };
    });
  }

  /** What the connection has for its application now. */
  delivered(): Uint8Array {
    const b = new Uint8Array(this.conn.readableBytes);
    this.conn.recv(b);
    return b;
  }
}

export class SubflowHarness extends PeerHarness {
  /** `mpCapable` false: the server's SYN/ACK has no MP_CAPABLE (a peer without MPTCP, RFC 8684 3.7). */
  constructor(
    opts: { checksum?: boolean; recvBuffer?: number; connRecvBuffer?: number; mpCapable?: boolean } = {},
  ) {
    super('client', CLIENT_KEY, SERVER_KEY, opts.recvBuffer ? { recvBuffer: opts.recvBuffer } : {}, {
      checksum: opts.checksum ?? false,
      ...(opts.connRecvBuffer ? { recvBuffer: opts.connRecvBuffer } : {}),
    });
    const flags = MPC_FLAG.hmacSha256 | (opts.checksum ? MPC_FLAG.checksum : 0);
    const options: TcpOption[] = [{ type: 'mss', mss: 1460 }];
    if (opts.mpCapable !== false)
      options.push({ type: 'mp_capable', version: 1, flags, senderKey: SERVER_KEY });
    this.tcp.established({ options });
  }

  /** A data segment that carries its own mapping. */
  mapped(off: number, payload: Uint8Array, dsn: number, len = payload.length, csum?: number): void {
    this.segment(off, payload, [this.dss({ off, dsn, len, bytes: payload, csum })]);
  }

  /** What the subflow sends now. */
  out(): OutSeg[] {
    return this.tcp.recv();
  }
}

/**
 * The server's side: a server subflow on a real TcpSocket that took the client's SYN with
 * MP_CAPABLE and sent its SYN/ACK; the client's third ACK and first data come with mpcData.
 */
export class ServerSubflowHarness extends PeerHarness {
  constructor(opts: { checksum?: boolean } = {}) {
    super('server', SERVER_KEY, CLIENT_KEY, { recvBuffer: 1 << 20 }, { checksum: opts.checksum ?? false });
    const flags = MPC_FLAG.hmacSha256 | (opts.checksum ? MPC_FLAG.checksum : 0);
    this.tcp.synReceived([
      { type: 'mss', mss: 1460 },
      { type: 'mp_capable', version: 1, flags },
    ]);
  }

  /**
   * A data segment at subflow offset `off` with the MP_CAPABLE of the third ACK, whose implied
   * mapping (DSN IDSN + 1, SSN 1) is `mapBytes`, with its length and checksum.
   */
  mpcData(off: number, payload: Uint8Array, mapBytes: Uint8Array): void {
    const w: Wire64 = { high: 0, low: 0 };
    toWire(this.peerIdsn, 1, w);
    const flags = MPC_FLAG.hmacSha256 | (this.conn.checksum ? MPC_FLAG.checksum : 0);
    const mpc: TcpOption = {
      type: 'mp_capable',
      version: 1,
      flags,
      senderKey: CLIENT_KEY,
      receiverKey: SERVER_KEY,
      dataLen: mapBytes.length,
    };
    if (this.conn.checksum)
      mpc.checksum = dssChecksum(
        w.high,
        w.low,
        1,
        mapBytes.length,
        0,
        sumWords(mapBytes, 0, mapBytes.length),
      );
    this.segment(off, payload, [mpc]);
  }
}

/** `n` bytes of a fixed pattern, from stream offset `from`. */
export function bytes(n: number, from = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((from + i) * 7 + ((from + i) >> 8)) & 0xff;
  return b;
}
