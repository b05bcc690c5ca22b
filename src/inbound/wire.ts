// The inbound port-forwarding protocol between a CPE and its HAG (ours; no RFC defines one), spoken
// on the HAG's inbound port over MPTCP connections that the CPE opens, so that it works behind
// carrier NAT on every line:
// - control connection (one per CPE, kept open): the CPE sends REGISTER (its public port ranges),
//   the HAG answers REGISTERED (a status per range); for each connection a client makes to one of
//   those public ports the HAG sends INCOMING (a one-time ticket, which forward, the client's
//   address); the CPE answers REJECT(ticket) when its LAN host cannot be reached; PING/PONG keep
//   the carriers' NAT mappings alive and show either side that the other is there.
// - attach connection (one per inbound connection, bonded like any other): the CPE's first message
//   is ATTACH(ticket); the HAG pairs it with the waiting client socket and from then on the
//   connection carries that client's bytes both ways, with no framing.
// Every message: type (1 byte), body length (2 bytes, network order), body. Decoding never throws:
// it returns the message and the bytes it took, "need more bytes", or an error with the reason.
// Decoded byte fields are views into the input (no copies).

/** The only version: REGISTER's first byte. */
export const INBOUND_VERSION = 1;

export const INBOUND_MSG = {
  register: 1,
  registered: 2,
  incoming: 3,
  attach: 4,
  reject: 5,
  ping: 6,
  pong: 7,
} as const;

/** Bytes of a message header (type, length). */
export const INBOUND_HEADER_BYTES = 3;
/** Longest body accepted (REGISTER with INBOUND_MAX_FORWARDS ranges: 18 + 4 x 64 bytes). */
export const INBOUND_MAX_BODY = 512;
/** Forwards (port ranges) one REGISTER may carry. */
export const INBOUND_MAX_FORWARDS = 64;
/** Bytes of a ticket and of a CPE's id (random, kept across its restarts: cpe/daemon/inbound-id.ts). */
export const TICKET_BYTES = 16;
export const OWNER_BYTES = 16;
/**
 * Bytes a control connection's writer may have queued unsent (in the stream, beyond the
 * connection's send buffer) before it gives up on the peer: a peer that sends and never reads (its
 * PINGs answered, the INCOMINGs it sends answered with REJECT) would otherwise grow the queue
 * without bound. 64 KiB is some 1,500 INCOMINGs, several times the clients the HAG lets wait
 * for one CPE (hag/inbound.ts MAX_PENDING_PER_CONTROL).
 */
export const CONTROL_QUEUE_MAX = 64 * 1024;

/** REGISTERED: the HAG's verdict on each range, in the order of REGISTER. */
export const FORWARD_STATUS = {
  ok: 0,
  /** The operator's config (service.inbound.allow) does not open these ports to this subscriber. */
  notAllowed: 1,
  /** Another CPE holds one of these ports. */
  inUse: 2,
  /** More ports than the HAG gives one CPE (service.inbound.maxPorts). */
  tooMany: 3,
  /** The HAG could not listen on a port (its kernel refused: EADDRINUSE, EACCES). */
  listenFailed: 4,
  /** The range itself is wrong (first > last) or overlaps another of the same REGISTER. */
  invalid: 5,
} as const;

export type ForwardStatus = (typeof FORWARD_STATUS)[keyof typeof FORWARD_STATUS];

const STATUS_NAMES: Record<number, string> = {
  0: 'ok',
  1: 'not-allowed',
  2: 'in-use',
  3: 'too-many-ports',
  4: 'listen-failed',
  5: 'invalid-range',
};

export function forwardStatusName(code: number): string {
  return STATUS_NAMES[code] ?? `status-${code}`;
}

/** REJECT: why the CPE did not take an inbound connection. */
export const REJECT_REASON = { lanRefused: 1, lanTimeout: 2, busy: 3, noForward: 4 } as const;

const REJECT_NAMES: Record<number, string> = {
  1: 'lan-refused',
  2: 'lan-timeout',
  3: 'cpe-busy',
  4: 'no-such-forward',
};

export function rejectReasonName(code: number): string {
  return REJECT_NAMES[code] ?? `reason-${code}`;
}

export interface PortRange {
  first: number;
  last: number;
}

/** A range as text: "8080", "27015-27030" (logs, status). */
export const portRangeText = (r: PortRange): string =>
  r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`;

export type InboundMessage =
  | { type: 'register'; version: number; owner: Uint8Array; ranges: PortRange[] }
  | { type: 'registered'; status: number[] }
  /** `index`: the range of REGISTER the port is in; `address`: 4 or 16 bytes. */
  | {
      type: 'incoming';
      ticket: Uint8Array;
      index: number;
      port: number;
      address: Uint8Array;
      peerPort: number;
    }
  | { type: 'attach'; ticket: Uint8Array }
  | { type: 'reject'; ticket: Uint8Array; reason: number }
  | { type: 'ping' }
  | { type: 'pong' };

export type InboundDecode =
  | { kind: 'ok'; message: InboundMessage; consumed: number }
  | { kind: 'incomplete' }
  | { kind: 'error'; reason: string };

function bodyLength(m: InboundMessage): number {
  switch (m.type) {
    case 'register':
      return 1 + OWNER_BYTES + 1 + 4 * m.ranges.length;
    case 'registered':
      return 1 + m.status.length;
    case 'incoming':
      return TICKET_BYTES + 1 + 2 + 2 + 1 + m.address.length;
    case 'attach':
      return TICKET_BYTES;
    case 'reject':
      return TICKET_BYTES + 1;
    case 'ping':
    case 'pong':
      return 0;
  }
}

/**
 * The bytes of message `m`. Values out of their fields' ranges are a programmer's mistake
 * (TypeError): what goes on the wire comes from a validated config or from the decoder.
 */
export function encodeInbound(m: InboundMessage): Buffer {
  const len = bodyLength(m);
  if (len > INBOUND_MAX_BODY) throw new TypeError(`inbound ${m.type}: ${len} bytes of body`);
  const b = Buffer.alloc(INBOUND_HEADER_BYTES + len);
  b[0] = INBOUND_MSG[m.type];
  b.writeUInt16BE(len, 1);
  let o = INBOUND_HEADER_BYTES;
  const bytes = (v: Uint8Array, n: number, what: string) => {
    if (v.length !== n) throw new TypeError(`inbound ${m.type}: ${what} of ${v.length} bytes`);
    b.set(v, o);
    o += n;
  };
  switch (m.type) {
    case 'register':
      if (m.ranges.length > INBOUND_MAX_FORWARDS) throw new TypeError('inbound register: too many ranges');
      b[o++] = m.version;
      bytes(m.owner, OWNER_BYTES, 'owner');
      b[o++] = m.ranges.length;
      for (const r of m.ranges) {
        b.writeUInt16BE(r.first, o);
        b.writeUInt16BE(r.last, o + 2);
        o += 4;
      }
      break;
    case 'registered':
      b[o++] = m.status.length;
      for (const s of m.status) b[o++] = s;
      break;
    case 'incoming':
      bytes(m.ticket, TICKET_BYTES, 'ticket');
      b[o++] = m.index;
      b.writeUInt16BE(m.port, o);
      b.writeUInt16BE(m.peerPort, o + 2);
      o += 4;
      if (m.address.length !== 4 && m.address.length !== 16)
        throw new TypeError(`inbound incoming: address of ${m.address.length} bytes`);
      b[o++] = m.address.length === 4 ? 4 : 6;
      bytes(m.address, m.address.length, 'address');
      break;
    case 'attach':
      bytes(m.ticket, TICKET_BYTES, 'ticket');
      break;
    case 'reject':
      bytes(m.ticket, TICKET_BYTES, 'ticket');
      b[o++] = m.reason;
      break;
  }
  return b;
}

const TYPES = new Map<number, InboundMessage['type']>(
  Object.entries(INBOUND_MSG).map(([k, v]) => [v, k as InboundMessage['type']]),
);

/** Decodes the message at the start of `buf` (it may hold more after it). */
export function decodeInbound(buf: Uint8Array): InboundDecode {
  if (buf.length < INBOUND_HEADER_BYTES) return { kind: 'incomplete' };
  const type = TYPES.get(buf[0]);
  if (!type) return { kind: 'error', reason: `unknown message type ${buf[0]}` };
  const len = (buf[1] << 8) | buf[2];
  if (len > INBOUND_MAX_BODY) return { kind: 'error', reason: `${type}: body of ${len} bytes` };
  if (buf.length < INBOUND_HEADER_BYTES + len) return { kind: 'incomplete' };
  const body = buf.subarray(INBOUND_HEADER_BYTES, INBOUND_HEADER_BYTES + len);
  const consumed = INBOUND_HEADER_BYTES + len;
  const bad = (why: string): InboundDecode => ({ kind: 'error', reason: `${type}: ${why}` });
  const u16 = (o: number) => (body[o] << 8) | body[o + 1];
  const ok = (message: InboundMessage): InboundDecode => ({ kind: 'ok', message, consumed });
  switch (type) {
    case 'register': {
      if (len < 2 + OWNER_BYTES) return bad(`body of ${len} bytes`);
      const n = body[1 + OWNER_BYTES];
      if (n > INBOUND_MAX_FORWARDS) return bad(`${n} ranges (at most ${INBOUND_MAX_FORWARDS})`);
      if (len !== 2 + OWNER_BYTES + 4 * n) return bad(`body of ${len} bytes for ${n} ranges`);
      const ranges: PortRange[] = [];
      for (let i = 0, o = 2 + OWNER_BYTES; i < n; i++, o += 4)
        ranges.push({ first: u16(o), last: u16(o + 2) });
      return ok({ type, version: body[0], owner: body.subarray(1, 1 + OWNER_BYTES), ranges });
    }
    case 'registered': {
      if (len < 1 || len !== 1 + body[0]) return bad(`body of ${len} bytes`);
      return ok({ type, status: [...body.subarray(1)] });
    }
    case 'incoming': {
      if (len < TICKET_BYTES + 6) return bad(`body of ${len} bytes`);
      const fam = body[TICKET_BYTES + 5];
      const alen = fam === 4 ? 4 : fam === 6 ? 16 : -1;
      if (alen < 0) return bad(`address family ${fam}`);
      if (len !== TICKET_BYTES + 6 + alen) return bad(`body of ${len} bytes for an IPv${fam} address`);
      return ok({
        type,
        ticket: body.subarray(0, TICKET_BYTES),
        index: body[TICKET_BYTES],
        port: u16(TICKET_BYTES + 1),
        peerPort: u16(TICKET_BYTES + 3),
        address: body.subarray(TICKET_BYTES + 6),
      });
    }
    case 'attach':
      if (len !== TICKET_BYTES) return bad(`body of ${len} bytes`);
      return ok({ type, ticket: body });
    case 'reject':
      if (len !== TICKET_BYTES + 1) return bad(`body of ${len} bytes`);
      return ok({ type, ticket: body.subarray(0, TICKET_BYTES), reason: body[TICKET_BYTES] });
    case 'ping':
    case 'pong':
      if (len !== 0) return bad(`body of ${len} bytes`);
      return ok({ type });
  }
}

/**
 * Collects a stream's chunks and hands out whole messages (the control connection's reader):
 * push() each chunk, then take messages with next() until it returns undefined.
 */
export class InboundReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Set once the stream carried something that is not a message; nothing is read after. */
  error: string | undefined;

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
  }

  next(): InboundMessage | undefined {
    if (this.error) return undefined;
    const d = decodeInbound(this.buf);
    if (d.kind === 'incomplete') return undefined;
    if (d.kind === 'error') {
      this.error = d.reason;
      return undefined;
    }
    this.buf = this.buf.subarray(d.consumed);
    return d.message;
  }

  /** Bytes after the last message taken (the attach connection's first payload bytes). */
  rest(): Buffer {
    return this.buf;
  }
}
