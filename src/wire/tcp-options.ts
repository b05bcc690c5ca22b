// TCP options: end of list, no-op, MSS (RFC 9293 section 3.2), window scale and timestamps
// (RFC 7323), SACK-permitted and SACK blocks (RFC 2018), the Fast Open cookie (RFC 7413, kind 34),
// and MPTCP (kind 30, RFC 8684). A cursor walks the options area in place; the plain-object form
// keeps unknown kinds as opaque bytes so that they re-emit unchanged.
import { copyOut, setU16, setU32, u16, u32 } from './bytes.js';
import { WireError } from './error.js';
import { emitMptcpOption, type MptcpOption, mptcpOptionLen, parseMptcpOption } from './mptcp/option.js';

export const TCPOPT = {
  eol: 0,
  nop: 1,
  mss: 2,
  windowScale: 3,
  sackPermitted: 4,
  sack: 5,
  timestamp: 8,
  mptcp: 30,
  fastOpen: 34,
} as const;

/** At most 40 bytes of options (data offset of 15 words). */
export const TCP_MAX_OPTIONS = 40;

/** Checks the length of a known kind; `n` is the length field. */
function checkLength(kind: number, n: number): WireError | undefined {
  switch (kind) {
    case TCPOPT.mss:
      return n === 4 ? undefined : new WireError('bad-option-length', `MSS length ${n}`);
    case TCPOPT.windowScale:
      return n === 3 ? undefined : new WireError('bad-option-length', `window scale length ${n}`);
    case TCPOPT.sackPermitted:
      return n === 2 ? undefined : new WireError('bad-option-length', `SACK-permitted length ${n}`);
    case TCPOPT.sack:
      // RFC 2018 section 3: 8 bytes per block, 1 to 4 blocks in 40 bytes of options.
      return n >= 10 && (n - 2) % 8 === 0
        ? undefined
        : new WireError('bad-option-length', `SACK length ${n}`);
    case TCPOPT.timestamp:
      return n === 10 ? undefined : new WireError('bad-option-length', `timestamp length ${n}`);
    case TCPOPT.fastOpen:
      // RFC 7413 section 4.1.1: an empty cookie (request) or a cookie of 4 to 16 bytes.
      return n === 2 || (n >= 6 && n <= 18)
        ? undefined
        : new WireError('bad-option-length', `Fast Open length ${n}`);
    default:
      return undefined;
  }
}

/** Walks an options area without allocating. */
export class TcpOptionCursor {
  b: Uint8Array = new Uint8Array(0);
  /** Offset of the current option's kind byte. */
  o = 0;
  /** Length of the current option (1 for NOP). */
  n = 0;
  kind = -1;
  error: WireError | undefined = undefined;
  private next0 = 0;
  private end = 0;

  reset(b: Uint8Array, off: number, len: number): this {
    this.b = b;
    this.next0 = off;
    this.end = off + len;
    this.kind = -1;
    this.error = undefined;
    return this;
  }

  /**
   * Advances to the next option and returns true, or returns false at the end of the list (EOL or
   * the end of the area) or on a malformed option, which is then in `error`.
   */
  next(): boolean {
    const b = this.b;
    let o = this.next0;
    if (o >= this.end) return false;
    const kind = b[o];
    if (kind === TCPOPT.eol) {
      this.next0 = this.end;
      return false;
    }
    if (kind === TCPOPT.nop) {
      this.o = o;
      this.n = 1;
      this.kind = kind;
      this.next0 = o + 1;
      return true;
    }
    if (o + 2 > this.end) {
      this.error = new WireError('truncated', `option kind ${kind} has no length byte`);
      return false;
    }
    const n = b[o + 1];
    if (n < 2) {
      this.error = new WireError('bad-option-length', `option kind ${kind} length ${n}`);
      return false;
    }
    if (o + n > this.end) {
      this.error = new WireError('truncated', `option kind ${kind} of ${n} bytes runs past the options area`);
      return false;
    }
    const err = checkLength(kind, n);
    if (err) {
      this.error = err;
      return false;
    }
    this.o = o;
    this.n = n;
    this.kind = kind;
    o += n;
    this.next0 = o;
    return true;
  }

  get mss(): number {
    return u16(this.b, this.o + 2);
  }
  get windowShift(): number {
    return this.b[this.o + 2];
  }
  get tsval(): number {
    return u32(this.b, this.o + 2);
  }
  get tsecr(): number {
    return u32(this.b, this.o + 6);
  }
  get sackBlocks(): number {
    return (this.n - 2) >> 3;
  }
  sackLeft(i: number): number {
    return u32(this.b, this.o + 2 + i * 8);
  }
  sackRight(i: number): number {
    return u32(this.b, this.o + 6 + i * 8);
  }
}

export interface SackBlock {
  left: number;
  right: number;
}

export type TcpOption =
  | { type: 'nop' }
  | { type: 'mss'; mss: number }
  | { type: 'window_scale'; shift: number }
  | { type: 'sack_permitted' }
  | { type: 'sack'; blocks: SackBlock[] }
  | { type: 'timestamp'; tsval: number; tsecr: number }
  /** An empty cookie is a cookie request. */
  | { type: 'fast_open'; cookie: Uint8Array }
  | { type: 'unknown'; kind: number; data: Uint8Array }
  | MptcpOption;

/** Parses an options area; stops at EOL (what follows it is padding). */
export function parseTcpOptions(b: Uint8Array, off: number, len: number): TcpOption[] | WireError {
  const c = new TcpOptionCursor().reset(b, off, len);
  const out: TcpOption[] = [];
  while (c.next()) {
    switch (c.kind) {
      case TCPOPT.nop:
        out.push({ type: 'nop' });
        break;
      case TCPOPT.mss:
        out.push({ type: 'mss', mss: c.mss });
        break;
      case TCPOPT.windowScale:
        out.push({ type: 'window_scale', shift: c.windowShift });
        break;
      case TCPOPT.sackPermitted:
        out.push({ type: 'sack_permitted' });
        break;
      case TCPOPT.sack: {
        const blocks: SackBlock[] = [];
        for (let i = 0; i < c.sackBlocks; i++) blocks.push({ left: c.sackLeft(i), right: c.sackRight(i) });
        out.push({ type: 'sack', blocks });
        break;
      }
      case TCPOPT.timestamp:
        out.push({ type: 'timestamp', tsval: c.tsval, tsecr: c.tsecr });
        break;
      case TCPOPT.fastOpen:
        out.push({ type: 'fast_open', cookie: copyOut(b, c.o + 2, c.n - 2) });
        break;
      case TCPOPT.mptcp: {
        const m = parseMptcpOption(b, c.o, c.n);
        if (m instanceof WireError) return m;
        out.push(m);
        break;
      }
      default:
        out.push({ type: 'unknown', kind: c.kind, data: copyOut(b, c.o + 2, c.n - 2) });
    }
  }
  return c.error ?? out;
}

export function tcpOptionLen(opt: TcpOption): number {
  switch (opt.type) {
    case 'nop':
      return 1;
    case 'mss':
      return 4;
    case 'window_scale':
      return 3;
    case 'sack_permitted':
      return 2;
    case 'sack':
      return 2 + 8 * opt.blocks.length;
    case 'timestamp':
      return 10;
    case 'fast_open':
      return 2 + opt.cookie.length;
    case 'unknown':
      return 2 + opt.data.length;
    default:
      return mptcpOptionLen(opt);
  }
}

/** Total length of the options, padded to a multiple of 4 as the header needs. */
export function tcpOptionsLen(opts: readonly TcpOption[]): number {
  let n = 0;
  for (const o of opts) n += tcpOptionLen(o);
  return (n + 3) & ~3;
}

/** Writes one option at b[off] and returns its length. */
export function emitTcpOption(opt: TcpOption, b: Uint8Array, off: number): number {
  switch (opt.type) {
    case 'nop':
      b[off] = TCPOPT.nop;
      return 1;
    case 'mss':
      b[off] = TCPOPT.mss;
      b[off + 1] = 4;
      setU16(b, off + 2, opt.mss);
      return 4;
    case 'window_scale':
      b[off] = TCPOPT.windowScale;
      b[off + 1] = 3;
      b[off + 2] = opt.shift;
      return 3;
    case 'sack_permitted':
      b[off] = TCPOPT.sackPermitted;
      b[off + 1] = 2;
      return 2;
    case 'sack': {
      if (opt.blocks.length < 1 || opt.blocks.length > 4) throw new RangeError('SACK: 1 to 4 blocks');
      const n = 2 + 8 * opt.blocks.length;
      b[off] = TCPOPT.sack;
      b[off + 1] = n;
      for (let i = 0; i < opt.blocks.length; i++) {
        setU32(b, off + 2 + i * 8, opt.blocks[i].left);
        setU32(b, off + 6 + i * 8, opt.blocks[i].right);
      }
      return n;
    }
    case 'timestamp':
      b[off] = TCPOPT.timestamp;
      b[off + 1] = 10;
      setU32(b, off + 2, opt.tsval);
      setU32(b, off + 6, opt.tsecr);
      return 10;
    case 'fast_open':
      b[off] = TCPOPT.fastOpen;
      b[off + 1] = 2 + opt.cookie.length;
      b.set(opt.cookie, off + 2);
      return 2 + opt.cookie.length;
    case 'unknown':
      b[off] = opt.kind;
      b[off + 1] = 2 + opt.data.length;
      b.set(opt.data, off + 2);
      return 2 + opt.data.length;
    default:
      return emitMptcpOption(opt, b, off);
  }
}

/** Writes the options and zero padding (EOL) to a multiple of 4; returns the padded length. */
export function emitTcpOptions(opts: readonly TcpOption[], b: Uint8Array, off: number): number {
  let o = off;
  for (const opt of opts) o += emitTcpOption(opt, b, o);
  const padded = off + ((o - off + 3) & ~3);
  if (padded - off > TCP_MAX_OPTIONS) throw new RangeError(`TCP options of ${padded - off} bytes exceed 40`);
  b.fill(0, o, padded);
  return padded - off;
}
