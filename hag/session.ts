// One client connection through the HAG: its MPTCP connection, its stream once its first message
// came, the egress socket once
// there is one, and the numbers logged at close and shown in the session listing (bytes each way,
// and per subflow: addresses, bytes, smoothed RTT, congestion control). Subflows are remembered as they appear, so a
// subflow that ended before the connection still counts in the close log.
import type net from 'node:net';
import type { MptcpConnection } from '../src/mptcp/connection.js';
import type { Relay } from '../src/relay/relay.js';
import type { TcpSocket } from '../src/tcp/socket.js';
import type { ConnStream } from '../src/tcp/stream.js';
import { formatIp } from './addr.js';

/**
 * How the client reached the HAG: RFC 8803 Convert, SOCKS5, its SYN to the server's address (on the
 * path), or the inbound port (a CPE's control or attach connection of port forwarding).
 */
export type Proto = 'convert' | 'socks' | 'transparent' | 'inbound';

export interface SubflowInfo {
  local: string;
  remote: string;
  /** The access type the client address belongs to (config `uplinks`), or "other". */
  uplink: string;
  bytesIn: number;
  bytesOut: number;
  srttMs: number;
  /** Its congestion control (the CPE's policy picks it per uplink, else the HAG's default). */
  cc: string;
  active: boolean;
  /** Congestion window, bytes in flight and the peer's TCP window, bytes (diagnostics). */
  cwnd: number;
  inFlight: number;
  sndWnd: number;
}

let nextId = 1;

/** The seen lists of a session before its first subflow (shared, never written). */
const NONE: TcpSocket[] = [];
const NO_UPLINKS: string[] = [];

export class Session {
  readonly id = nextId++;
  readonly startedAt = Date.now();
  state: 'handshake' | 'relay' | 'closing' = 'handshake';
  dst: string | undefined;
  egress: net.Socket | undefined;
  /** Its relay, while one runs (the drain stops it). */
  relay: Relay | undefined;
  closeReason: string | undefined;
  /** The application's stream, made once the client has sent its first message (handshake-gate.ts). */
  stream: ConnStream | undefined;
  /**
   * Every subflow the connection has had (a few; their addresses are formatted when shown), and
   * each one's uplink, found once when it joined (the status tally reads it every second). Made
   * with their first subflow as one-slot literals: a first push() into `[]` allocates 17 slots
   * (152 bytes) per array and connection.
   */
  private seen: TcpSocket[] = NONE;
  private seenUplinks: string[] = NO_UPLINKS;

  constructor(
    readonly proto: Proto,
    readonly client: string,
    readonly conn: MptcpConnection,
    private readonly uplinkOf: (addr: Uint8Array) => string = () => 'other',
  ) {
    this.observe();
  }

  /** Notes subflows that joined since the last look; returns how many are new. */
  observe(): number {
    let added = 0;
    for (const sf of this.conn.subflows) {
      if (this.seen.includes(sf.socket)) continue;
      const uplink = this.uplinkOf(sf.socket.tuple.remote);
      if (this.seen === NONE) {
        this.seen = [sf.socket];
        this.seenUplinks = [uplink];
      } else {
        this.seen.push(sf.socket);
        this.seenUplinks.push(uplink);
      }
      added++;
    }
    return added;
  }

  /** Calls `fn` with the uplink and socket of every subflow the connection has had (the status page's tally). */
  eachSubflow(fn: (uplink: string, socket: TcpSocket) => void): void {
    for (let i = 0; i < this.seen.length; i++) fn(this.seenUplinks[i], this.seen[i]);
  }

  subflows(): SubflowInfo[] {
    const active = new Set(this.conn.subflows.map((sf) => sf.socket));
    return this.seen.map((s, i) => {
      const t = s.tuple;
      return {
        local: `${formatIp(t.local)}:${t.localPort}`,
        remote: `${formatIp(t.remote)}:${t.remotePort}`,
        uplink: this.seenUplinks[i],
        bytesIn: s.stats.bytesIn,
        bytesOut: s.stats.bytesOut,
        srttMs: Math.round(s.rtt.srtt * 10) / 10,
        cc: s.cc.name,
        active: active.has(s),
        cwnd: s.cc.window,
        inFlight: (s.sndNxt - s.sndUna) >>> 0,
        sndWnd: s.sndWnd,
      };
    });
  }

  /** Client to server bytes relayed. */
  get bytesUp(): number {
    return this.egress?.bytesWritten ?? 0;
  }

  /** Server to client bytes relayed. */
  get bytesDown(): number {
    return this.egress?.bytesRead ?? 0;
  }

  summary(): Record<string, unknown> {
    return {
      id: this.id,
      proto: this.proto,
      client: this.client,
      dst: this.dst,
      state: this.state,
      ageMs: Date.now() - this.startedAt,
      mptcp: !this.conn.fallback,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      subflows: this.subflows(),
      windows: this.conn.windows(),
    };
  }
}
