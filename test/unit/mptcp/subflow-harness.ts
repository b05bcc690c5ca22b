// Per-segment harness for an MPTCP subflow's receive side, in the style of test/unit/tcp/harness.ts:
// a client subflow on a real TcpSocket, established with a server that sent its key in the
// SYN/ACK, then one segment in (built as the server would send it, with its DSS option) and what
// the subflow recorded (mappings kept, MIB counters) and delivered to the connection out.
import { keyIdsn, keyToken } from '../../../src/crypto/keys.js';
import { DEFAULT_MPTCP_CONFIG, MptcpConnection, MptcpMib } from '../../../src/mptcp/connection.js';
import { toWire, type Wire64 } from '../../../src/mptcp/dsn.js';
import { Subflow } from '../../../src/mptcp/subflow.js';
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

export class SubflowHarness {
  readonly tcp: Harness;
  readonly mib = new MptcpMib();
  readonly conn: MptcpConnection;
  readonly sf: Subflow;
  private readonly serverIdsn = keyIdsn(SERVER_KEY);

  constructor(opts: { checksum?: boolean; recvBuffer?: number; connRecvBuffer?: number } = {}) {
    this.tcp = new Harness(opts.recvBuffer ? { recvBuffer: opts.recvBuffer } : {});
    const local = { key: CLIENT_KEY, token: keyToken(CLIENT_KEY), idsn: keyIdsn(CLIENT_KEY) };
    const config = {
      ...DEFAULT_MPTCP_CONFIG,
      checksum: opts.checksum ?? false,
      ...(opts.connRecvBuffer ? { recvBuffer: opts.connRecvBuffer } : {}),
    };
    this.conn = new MptcpConnection('client', local, config, this.mib);
    this.sf = new Subflow(this.conn, this.tcp.sock, { wake: () => {} });
    const flags = MPC_FLAG.hmacSha256 | (opts.checksum ? MPC_FLAG.checksum : 0);
    this.tcp.established({
      options: [
        { type: 'mss', mss: 1460 },
        { type: 'mp_capable', version: 1, flags, senderKey: SERVER_KEY },
      ],
    });
  }

  /** The DSS option of a mapping as the server writes it. */
  dss(m: MapSpec, extra: Partial<Dss> = {}): Dss {
    const w: Wire64 = { high: 0, low: 0 };
    toWire(this.serverIdsn, m.dsn, w);
    const d: Dss = {
      type: 'dss',
      dataFin: false,
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

  /** One segment from the server: `payload` at subflow offset `off`, with these options. */
  segment(off: number, payload: Uint8Array, options: TcpOption[] = []): void {
    this.tcp.send({ seq: REMOTE_ISS + 1 + off, ack: LOCAL_ISS + 1, flags: ACK | PSH, payload, options });
  }

  /** A data segment that carries its own mapping. */
  mapped(off: number, payload: Uint8Array, dsn: number, len = payload.length, csum?: number): void {
    this.segment(off, payload, [this.dss({ off, dsn, len, bytes: payload, csum })]);
  }

  /** What the connection has for its application now. */
  delivered(): Uint8Array {
    const b = new Uint8Array(this.conn.readableBytes);
    this.conn.recv(b);
    return b;
  }

  /** What the subflow sends now. */
  out(): OutSeg[] {
    return this.tcp.recv();
  }
}

/** `n` bytes of a fixed pattern, from stream offset `from`. */
export function bytes(n: number, from = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((from + i) * 7 + ((from + i) >> 8)) & 0xff;
  return b;
}
