// DSS mapping benchmark (issue 13 item 2): the per-segment cost of an MPTCP subflow's receive path
// when the peer sends a new mapping on every segment for data that never arrives (a hole at the
// subflow's next byte), as the attacker test did, against in-order segments each with its own
// mapping (the DSS checksum case). A client subflow on a real TcpSocket, segments built as the
// peer would send them; prints microseconds per segment at the counts asked for and what the
// subflow kept and dropped.
//   node dist/scripts/bench/dss-maps.js [--counts 5000,20000]

import { keyIdsn, keyToken } from '../../src/crypto/keys.js';
import { DEFAULT_MPTCP_CONFIG, MptcpConnection, MptcpMib } from '../../src/mptcp/connection.js';
import { toWire, type Wire64 } from '../../src/mptcp/dsn.js';
import { Subflow } from '../../src/mptcp/subflow.js';
import { DEFAULT_TCP_CONFIG } from '../../src/tcp/config.js';
import { SegmentIn } from '../../src/tcp/segment.js';
import { TcpSocket } from '../../src/tcp/socket.js';
import { emitPacket, ipReprOf, PacketView, packetLen, type TcpOption } from '../../src/wire/index.js';
import { MPC_FLAG } from '../../src/wire/mptcp/mp-capable.js';
import { benchArgs } from './args.js';

const { values: a } = benchArgs({ options: { counts: { type: 'string', default: '5000,20000' } } });
const counts = a.counts.split(',').map(Number);

const LOCAL = Uint8Array.of(198, 18, 0, 1);
const REMOTE = Uint8Array.of(198, 18, 0, 2);
const L_ISS = 10_000;
const R_ISS = 50_000;
const CLIENT_KEY = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const SERVER_KEY = Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1);
const view = new PacketView();
const seg = new SegmentIn();
const out = new Uint8Array(70_000);

function packet(seq: number, flags: number, payload: Uint8Array, options: TcpOption[]): Uint8Array {
  const p = {
    ip: ipReprOf(REMOTE, LOCAL),
    tcp: {
      srcPort: 80,
      dstPort: 49500,
      seq,
      ack: L_ISS + 1,
      flags,
      window: 65535,
      urgent: 0,
      options,
      payload,
    },
  };
  const b = new Uint8Array(packetLen(p));
  emitPacket(p, b);
  return b;
}

function input(sock: TcpSocket, b: Uint8Array): void {
  if (view.wrap(b) || seg.read(view)) throw new Error('bad packet');
  sock.input(0, seg);
}

function subflow() {
  const sock = new TcpSocket(
    { ...DEFAULT_TCP_CONFIG, timestamps: false, sack: false },
    { local: LOCAL, localPort: 49500, remote: REMOTE, remotePort: 80 },
  );
  const mib = new MptcpMib();
  const local = { key: CLIENT_KEY, token: keyToken(CLIENT_KEY), idsn: keyIdsn(CLIENT_KEY) };
  const conn = new MptcpConnection('client', local, { ...DEFAULT_MPTCP_CONFIG }, mib);
  const sf = new Subflow(conn, sock, { wake: () => {} });
  sock.connect(0, L_ISS);
  while (sock.dispatch(0, out) > 0);
  const mpc = { type: 'mp_capable' as const, version: 1, flags: MPC_FLAG.hmacSha256, senderKey: SERVER_KEY };
  const synAck = packet(R_ISS, 0x12, new Uint8Array(0), [{ type: 'mss', mss: 1460 }, mpc]);
  input(sock, synAck);
  while (sock.dispatch(0, out) > 0);
  return { sock, conn, sf, mib };
}

const idsn = keyIdsn(SERVER_KEY);
const w: Wire64 = { high: 0, low: 0 };
function mapped(off: number, len: number): Uint8Array {
  toWire(idsn, 1 + off, w);
  const dss: TcpOption = {
    type: 'dss',
    dataFin: false,
    dsnHigh: w.high,
    dsn: w.low,
    ssn: off + 1,
    dataLen: len,
  };
  return packet(R_ISS + 1 + off, 0x18, new Uint8Array(len), [dss]);
}

function run(name: string, n: number, offOf: (k: number) => number, len: number): void {
  const s = subflow();
  const pkts = Array.from({ length: n }, (_, k) => mapped(offOf(k), len));
  const t0 = process.hrtime.bigint();
  let t1 = t0;
  const last = Math.max(1, Math.floor(n / 10));
  for (let k = 0; k < n; k++) {
    if (k === n - last) t1 = process.hrtime.bigint();
    input(s.sock, pkts[k]);
    while (s.sock.dispatch(0, out) > 0);
    s.conn.recv(out);
  }
  const t2 = process.hrtime.bigint();
  const all = Number(t2 - t0) / 1000 / n;
  const tail = Number(t2 - t1) / 1000 / last;
  console.log(
    `${name.padEnd(34)} ${String(n).padStart(6)} segments: ${all.toFixed(2).padStart(7)} µs each, last tenth ${tail.toFixed(2).padStart(7)} µs; kept ${s.sf.keptMappings}, dropped ${s.mib.DSSMapsDropped}, delivered ${s.conn.rcvNxt - 1}`,
  );
}

for (const n of counts) {
  run('new mapping per segment, hole at 0', n, (k) => 1 + k, 1);
  run('in order, one mapping each', n, (k) => k * 1000, 1000);
}
