// Classic libpcap capture files: a reader that turns a tcpdump capture into the IP packets inside
// it (for tests that cross-check the wire layer against real traffic), and a writer of raw-IP
// captures (so that any simulator run or core trace opens in Wireshark or tcpdump).
//
// The reader takes the whole file as bytes and hands out subarray views of it, never copies. It
// understands both byte orders and the microsecond and nanosecond magic numbers, and strips the
// link-layer header of Ethernet (with 802.1Q/802.1ad VLAN tags), raw IP, and Linux cooked captures
// (SLL and SLL2). Frames that carry no IP packet (ARP, LLDP, ...) are skipped and counted. A
// malformed or truncated file gives a PcapError value, never an exception.
import { closeSync, openSync, writeSync } from 'node:fs';

/** Link-layer header types (tcpdump.org "LINK-LAYER HEADER TYPES") that the reader handles. */
export const LINKTYPE = {
  ethernet: 1,
  raw: 101,
  linuxSll: 113,
  ipv4: 228,
  ipv6: 229,
  linuxSll2: 276,
} as const;

/** Magic numbers as read in the file's own byte order. */
const MAGIC_USEC = 0xa1b2c3d4;
const MAGIC_NSEC = 0xa1b23c4d;
const FILE_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;
/** The default snapshot length of tcpdump, and what the writer declares. */
export const PCAP_SNAPLEN = 262_144;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
/** 802.1Q, 802.1ad (QinQ outer tag) and the pre-standard QinQ type: 4-byte tags to skip. */
const ETHERTYPE_VLAN = new Set([0x8100, 0x88a8, 0x9100]);

export type PcapErrorKind =
  | 'truncated' // the file ends inside its header or inside a record
  | 'bad-magic' // not a classic pcap file (pcapng, or not a capture at all)
  | 'bad-header' // an unsupported format version
  | 'unsupported-link-type'; // a link type whose frames the reader cannot take apart

/** A malformed capture file; returned as a value, like the wire layer's WireError. */
export class PcapError {
  constructor(
    readonly kind: PcapErrorKind,
    readonly detail: string,
  ) {}

  toString(): string {
    return `${this.kind}: ${this.detail}`;
  }
}

export function isPcapError(x: unknown): x is PcapError {
  return x instanceof PcapError;
}

export interface PcapPacket {
  /** Capture time: seconds since the epoch. */
  sec: number;
  /** Nanoseconds within the second (microsecond files are scaled). */
  nsec: number;
  /** The capture time in milliseconds, for convenience. */
  timeMs: number;
  /** Link type of the frame the packet came from. */
  linkType: number;
  /** Length of the frame on the wire; more than was captured when the snapshot length cut it. */
  origLen: number;
  /** The IP packet: a view into the file's bytes, trimmed of link-layer header and padding. */
  data: Uint8Array;
}

const LINK_TYPES = new Set<number>(Object.values(LINKTYPE));

/** Reads the IP packets of a classic pcap file held in memory. */
export class PcapReader {
  /** Frames skipped because they hold no IP packet (other protocols, or runts). */
  skipped = 0;
  private pos = FILE_HEADER_LEN;
  private failed: PcapError | undefined;

  private constructor(
    private readonly bytes: Uint8Array,
    private readonly dv: DataView,
    readonly littleEndian: boolean,
    readonly nanosecond: boolean,
    readonly snapLen: number,
    readonly linkType: number,
  ) {}

  /** Checks the file header; the packets are read lazily by next(). */
  static open(bytes: Uint8Array): PcapReader | PcapError {
    if (bytes.length < FILE_HEADER_LEN) {
      return new PcapError('truncated', `file header needs ${FILE_HEADER_LEN} bytes, have ${bytes.length}`);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let littleEndian: boolean;
    let magic = dv.getUint32(0, true);
    if (magic === MAGIC_USEC || magic === MAGIC_NSEC) {
      littleEndian = true;
    } else {
      magic = dv.getUint32(0, false);
      if (magic !== MAGIC_USEC && magic !== MAGIC_NSEC) {
        return new PcapError('bad-magic', `magic 0x${dv.getUint32(0, false).toString(16).padStart(8, '0')}`);
      }
      littleEndian = false;
    }
    const major = dv.getUint16(4, littleEndian);
    const minor = dv.getUint16(6, littleEndian);
    if (major !== 2) return new PcapError('bad-header', `format version ${major}.${minor}`);
    const snapLen = dv.getUint32(16, littleEndian);
    // The low 16 bits are the link type; the bits above carry FCS information (not needed here,
    // as the IP header gives the packet's length and the trailer is trimmed with the padding).
    const linkType = dv.getUint32(20, littleEndian) & 0xffff;
    if (!LINK_TYPES.has(linkType)) return new PcapError('unsupported-link-type', `link type ${linkType}`);
    return new PcapReader(bytes, dv, littleEndian, magic === MAGIC_NSEC, snapLen, linkType);
  }

  /**
   * The next IP packet, undefined at the end of the file, or the error that ends the file (it is
   * returned again by every later call).
   */
  next(): PcapPacket | PcapError | undefined {
    for (;;) {
      if (this.failed) return this.failed;
      const { bytes, dv, littleEndian: le } = this;
      const at = this.pos;
      if (at === bytes.length) return undefined;
      if (at + RECORD_HEADER_LEN > bytes.length) {
        return this.fail(`record header at offset ${at} needs 16 bytes, have ${bytes.length - at}`);
      }
      const sec = dv.getUint32(at, le);
      const frac = dv.getUint32(at + 4, le);
      const capLen = dv.getUint32(at + 8, le);
      const origLen = dv.getUint32(at + 12, le);
      const start = at + RECORD_HEADER_LEN;
      if (start + capLen > bytes.length) {
        return this.fail(
          `record at offset ${at} holds ${capLen} bytes, the file has ${bytes.length - start} left`,
        );
      }
      this.pos = start + capLen;
      const data = ipPayload(this.linkType, bytes.subarray(start, start + capLen));
      if (!data) {
        this.skipped++;
        continue;
      }
      const nsec = this.nanosecond ? frac : frac * 1000;
      return { sec, nsec, timeMs: sec * 1000 + nsec / 1e6, linkType: this.linkType, origLen, data };
    }
  }

  *[Symbol.iterator](): Generator<PcapPacket | PcapError> {
    for (let p = this.next(); p !== undefined; p = this.next()) {
      yield p;
      if (p instanceof PcapError) return;
    }
  }

  private fail(detail: string): PcapError {
    this.failed = new PcapError('truncated', detail);
    return this.failed;
  }
}

/** Every IP packet of a capture, or the first error. */
export function readPcap(bytes: Uint8Array): PcapPacket[] | PcapError {
  const r = PcapReader.open(bytes);
  if (r instanceof PcapError) return r;
  const out: PcapPacket[] = [];
  for (const p of r) {
    if (p instanceof PcapError) return p;
    out.push(p);
  }
  return out;
}

function be16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/** The IP packet inside a frame of the given link type, or undefined when there is none. */
function ipPayload(linkType: number, frame: Uint8Array): Uint8Array | undefined {
  switch (linkType) {
    case LINKTYPE.ethernet:
      // Destination and source MAC, then the EtherType (or a VLAN tag's TPID) at 12.
      return afterEthertype(frame, 12);
    case LINKTYPE.linuxSll:
      // Packet type, ARPHRD type, address length, 8 bytes of address, protocol at 14.
      return afterEthertype(frame, 14);
    case LINKTYPE.linuxSll2:
      // Protocol at 0, then reserved, interface index, ARPHRD type, packet type, address: 20 bytes.
      if (frame.length < 20) return undefined;
      return ipByType(be16(frame, 0), frame.subarray(20));
    default:
      // RAW, IPV4 and IPV6: the frame is the packet; the version nibble tells which.
      return trimIp(frame);
  }
}

/** Follows the EtherType at `typeOff` past any VLAN tags. */
function afterEthertype(frame: Uint8Array, typeOff: number): Uint8Array | undefined {
  let o = typeOff;
  if (o + 2 > frame.length) return undefined;
  let type = be16(frame, o);
  while (ETHERTYPE_VLAN.has(type)) {
    // Tag: TPID (read already), TCI, then the inner EtherType.
    o += 4;
    if (o + 2 > frame.length) return undefined;
    type = be16(frame, o);
  }
  return ipByType(type, frame.subarray(o + 2));
}

function ipByType(ethertype: number, payload: Uint8Array): Uint8Array | undefined {
  return ethertype === ETHERTYPE_IPV4 || ethertype === ETHERTYPE_IPV6 ? trimIp(payload) : undefined;
}

/**
 * The packet cut to the length its IP header declares (dropping Ethernet padding and any FCS), or
 * left as it is when the header is cut short or inconsistent: judging it is the wire layer's job.
 */
function trimIp(p: Uint8Array): Uint8Array | undefined {
  if (p.length < 1) return undefined;
  const version = p[0] >> 4;
  if (version === 4) {
    if (p.length >= 4) {
      const total = be16(p, 2);
      if (total >= 20 && total < p.length) return p.subarray(0, total);
    }
    return p;
  }
  if (version === 6) {
    if (p.length >= 6) {
      const total = 40 + be16(p, 4);
      // A payload length of 0 may be a jumbogram (RFC 2675): leave the packet as it is.
      if (total > 40 && total < p.length) return p.subarray(0, total);
    }
    return p;
  }
  return undefined;
}

/**
 * Writes IP packets as a LINKTYPE_RAW capture (little-endian, microsecond timestamps), either to
 * a file (buffered; call close()) or to memory (call toBuffer()).
 */
export class PcapWriter {
  /** Packets written so far. */
  count = 0;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private fd: number | undefined;
  private closed = false;
  private readonly toFile: boolean;

  /** With a path the capture goes to that file (created or truncated); without, into memory. */
  constructor(path?: string) {
    this.toFile = path !== undefined;
    if (path !== undefined) this.fd = openSync(path, 'w');
    const h = Buffer.alloc(FILE_HEADER_LEN);
    h.writeUInt32LE(MAGIC_USEC, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    // Time zone offset and timestamp accuracy: always 0.
    h.writeUInt32LE(PCAP_SNAPLEN, 16);
    h.writeUInt32LE(LINKTYPE.raw, 20);
    this.push(h);
  }

  /**
   * Appends one IP packet captured at `timeMs` (milliseconds since any epoch; sub-ms kept to 1 us),
   * keeping at most `snap` bytes of it (headers only, for long captures).
   */
  write(packet: Uint8Array, timeMs: number, snap = PCAP_SNAPLEN): void {
    if (!(timeMs >= 0)) throw new RangeError(`PcapWriter: time ${timeMs} ms`);
    const us = Math.round(timeMs * 1000);
    const capLen = Math.min(packet.length, snap, PCAP_SNAPLEN);
    const h = Buffer.allocUnsafe(RECORD_HEADER_LEN);
    h.writeUInt32LE(Math.floor(us / 1e6) >>> 0, 0);
    h.writeUInt32LE(us % 1e6, 4);
    h.writeUInt32LE(capLen, 8);
    h.writeUInt32LE(packet.length, 12);
    this.push(h);
    // Copied: the caller may reuse its buffer as soon as write() returns.
    this.push(Buffer.from(packet.subarray(0, capLen)));
    this.count++;
    if (this.fd !== undefined && this.buffered >= 1 << 16) this.flush();
  }

  /** The capture written so far (in-memory writers only). */
  toBuffer(): Buffer {
    if (this.toFile) throw new Error('PcapWriter: toBuffer() is for in-memory writers');
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all;
  }

  /** Writes what is buffered out to the file. */
  flush(): void {
    if (this.fd === undefined) return;
    const all = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    let off = 0;
    while (off < all.length) off += writeSync(this.fd, all, off);
  }

  /** Flushes and closes the file; an in-memory writer keeps its bytes. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd === undefined) return;
    this.flush();
    closeSync(this.fd);
    this.fd = undefined;
  }

  private push(b: Buffer): void {
    if (this.closed) throw new Error('PcapWriter: write after close');
    this.chunks.push(b);
    this.buffered += b.length;
  }
}
