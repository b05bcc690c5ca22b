// RFC 8803 (0-RTT TCP Convert Protocol) wire format: the 32-bit fixed header and the Info,
// Connect, Extended TCP Header, Supported TCP Extensions, Cookie and Error TLVs. Shared by the HAG
// (the Transport Converter) and the CPE (the client). Decoding never throws: it returns the
// message, "need more bytes", or a typed error carrying the Error TLV code the RFC assigns to it.
// Decoded byte fields are views into the input (no copies).

/** RFC 8803 4.1: the only version defined. */
export const CONVERT_VERSION = 1;

/** RFC 8803 4.1: Total Length and every TLV Length count 32-bit words, in one byte. */
export const CONVERT_MAX_BYTES = 255 * 4;

/** RFC 8803 10.2 (IANA "Convert TLVs"). */
export const CONVERT_TLV = {
  info: 1,
  connect: 10,
  extendedTcpHeader: 20,
  supportedTcpExtensions: 21,
  cookie: 22,
  error: 30,
} as const;

/** RFC 8803 4.2.8 and 10.3 (IANA "Convert Errors"). */
export const CONVERT_ERROR = {
  unsupportedVersion: 0,
  malformedMessage: 1,
  unsupportedMessage: 2,
  missingCookie: 3,
  notAuthorized: 32,
  unsupportedTcpOption: 33,
  resourceExceeded: 64,
  networkFailure: 65,
  connectionReset: 96,
  destinationUnreachable: 97,
} as const;

export type ConvertErrorCode = (typeof CONVERT_ERROR)[keyof typeof CONVERT_ERROR];

export type ConvertTlv =
  /** RFC 8803 4.2.1: the client asks which TCP extensions the converter supports. */
  | { type: 'info' }
  /**
   * RFC 8803 4.2.2: where the converter connects. `address` is 4 bytes for an IPv4-mapped address
   * on the wire (::ffff:a.b.c.d), else 16; `tcpOptions` are the options the client asks for.
   */
  | { type: 'connect'; port: number; address: Uint8Array; tcpOptions: Uint8Array }
  /** RFC 8803 4.2.3: the TCP header (with options) of the server's SYN+ACK. */
  | { type: 'extendedTcpHeader'; header: Uint8Array }
  /** RFC 8803 4.2.4: option kinds the converter supports. */
  | { type: 'supportedTcpExtensions'; kinds: number[] }
  /** RFC 8803 4.2.5: an opaque value the converter handed out (we use it as a per-CPE credential). */
  | { type: 'cookie'; cookie: Uint8Array }
  /** RFC 8803 4.2.8: `value` is the code-specific value (e.g. the unsupported option kind). */
  | { type: 'error'; code: number; value: Uint8Array }
  /** A TLV type this decoder does not know; the caller decides (the converter answers error 2). */
  | { type: 'unknown'; code: number; value: Uint8Array };

export interface ConvertMessage {
  version: number;
  tlvs: ConvertTlv[];
}

export interface ConvertDecodeError {
  /** The Error TLV code the RFC gives for this fault. */
  code: ConvertErrorCode;
  reason: string;
}

export type ConvertDecode =
  | { kind: 'ok'; message: ConvertMessage /** bytes the message took (Total Length * 4) */; consumed: number }
  | { kind: 'incomplete' /** the least number of bytes needed to go on */; need: number }
  | { kind: 'error'; error: ConvertDecodeError };

function fail(code: ConvertErrorCode, reason: string): ConvertDecode {
  return { kind: 'error', error: { code, reason } };
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function isV4Mapped(a: Uint8Array, off: number): boolean {
  for (let i = 0; i < 12; i++) if (a[off + i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}

/**
 * Decodes one Convert message at the start of `buf` (the first bytes of a connection's stream).
 * Bytes after the message are application data and are left alone.
 */
export function decodeConvert(buf: Uint8Array): ConvertDecode {
  if (buf.length < 4) return { kind: 'incomplete', need: 4 };
  // RFC 8803 4.1: a version this converter does not speak gets "Unsupported Version".
  if (buf[0] !== CONVERT_VERSION) return fail(CONVERT_ERROR.unsupportedVersion, `version ${buf[0]}`);
  const total = buf[1] * 4;
  if (total < 4) return fail(CONVERT_ERROR.malformedMessage, 'Total Length 0');
  if (buf.length < total) return { kind: 'incomplete', need: total };
  const tlvs: ConvertTlv[] = [];
  let off = 4;
  while (off < total) {
    if (total - off < 2) return fail(CONVERT_ERROR.malformedMessage, `TLV header cut at byte ${off}`);
    const type = buf[off];
    const len = buf[off + 1] * 4;
    if (len === 0) return fail(CONVERT_ERROR.malformedMessage, `TLV ${type} at byte ${off} has Length 0`);
    if (off + len > total) {
      return fail(
        CONVERT_ERROR.malformedMessage,
        `TLV ${type} at byte ${off} runs past Total Length ${total}`,
      );
    }
    const tlv = decodeTlv(buf.subarray(off, off + len), type);
    if (typeof tlv === 'string') return fail(CONVERT_ERROR.malformedMessage, tlv);
    tlvs.push(tlv);
    off += len;
  }
  return { kind: 'ok', message: { version: buf[0], tlvs }, consumed: total };
}

/** One TLV (`t` spans exactly its Length), or why it is malformed. */
function decodeTlv(t: Uint8Array, type: number): ConvertTlv | string {
  const bad = (reason: string) => reason;
  switch (type) {
    case CONVERT_TLV.info:
      // RFC 8803 4.2.1: Length 1, nothing after the unassigned field.
      if (t.length !== 4) return bad(`Info TLV Length ${t.length / 4}, expected 1`);
      return { type: 'info' };
    case CONVERT_TLV.connect: {
      // RFC 8803 4.2.2: port (16 bits), address (128 bits), then TCP options padded to a word.
      if (t.length < 20) return bad(`Connect TLV Length ${t.length / 4}, expected at least 5`);
      const port = (t[2] << 8) | t[3];
      if (port === 0) return bad('Connect TLV port 0');
      const address = isV4Mapped(t, 4) ? t.subarray(16, 20) : t.subarray(4, 20);
      return { type: 'connect', port, address, tcpOptions: t.subarray(20) };
    }
    case CONVERT_TLV.extendedTcpHeader:
      return { type: 'extendedTcpHeader', header: t.subarray(4) };
    case CONVERT_TLV.supportedTcpExtensions: {
      // RFC 8803 4.2.4: one byte per option kind; zero bytes pad the list to a word (kind 0, EOL,
      // is never listed).
      const kinds: number[] = [];
      for (let i = 4; i < t.length; i++) if (t[i] !== 0) kinds.push(t[i]);
      return { type: 'supportedTcpExtensions', kinds };
    }
    case CONVERT_TLV.cookie:
      if (t.length < 8) return bad('Cookie TLV without a value');
      return { type: 'cookie', cookie: t.subarray(4) };
    case CONVERT_TLV.error:
      // RFC 8803 4.2.8: the code is the third byte; the value follows it.
      return { type: 'error', code: t[2], value: t.subarray(3) };
    default:
      return { type: 'unknown', code: type, value: t.subarray(2) };
  }
}

/** Byte length of one TLV as encoded (a multiple of 4). */
function tlvBytes(t: ConvertTlv): number {
  switch (t.type) {
    case 'info':
      return 4;
    case 'connect':
      return pad4(20 + t.tcpOptions.length);
    case 'extendedTcpHeader':
      return pad4(4 + t.header.length);
    case 'supportedTcpExtensions':
      return pad4(4 + t.kinds.length);
    case 'cookie':
      return pad4(4 + t.cookie.length);
    case 'error':
      return pad4(3 + Math.max(1, t.value.length));
    case 'unknown':
      return pad4(2 + t.value.length);
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Encodes a Convert message: the fixed header and the TLVs, each zero-padded to 32 bits.
 * Throws RangeError for values the format cannot carry (a caller's mistake).
 */
export function encodeConvert(tlvs: readonly ConvertTlv[]): Uint8Array {
  let total = 4;
  for (const t of tlvs) total += tlvBytes(t);
  if (total > CONVERT_MAX_BYTES)
    throw new RangeError(`Convert message of ${total} bytes exceeds ${CONVERT_MAX_BYTES}`);
  const out = new Uint8Array(total);
  out[0] = CONVERT_VERSION;
  out[1] = total / 4;
  let off = 4;
  for (const t of tlvs) {
    const len = tlvBytes(t);
    out[off + 1] = len / 4;
    switch (t.type) {
      case 'info':
        out[off] = CONVERT_TLV.info;
        break;
      case 'connect': {
        out[off] = CONVERT_TLV.connect;
        if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) throw new RangeError(`port ${t.port}`);
        out[off + 2] = t.port >> 8;
        out[off + 3] = t.port & 0xff;
        if (t.address.length === 4) {
          out.set(V4_MAPPED_PREFIX, off + 4);
          out.set(t.address, off + 16);
        } else if (t.address.length === 16) out.set(t.address, off + 4);
        else throw new RangeError(`address of ${t.address.length} bytes`);
        out.set(t.tcpOptions, off + 20);
        break;
      }
      case 'extendedTcpHeader':
        out[off] = CONVERT_TLV.extendedTcpHeader;
        out.set(t.header, off + 4);
        break;
      case 'supportedTcpExtensions':
        out[off] = CONVERT_TLV.supportedTcpExtensions;
        for (let i = 0; i < t.kinds.length; i++) {
          if (t.kinds[i] < 1 || t.kinds[i] > 255) throw new RangeError(`option kind ${t.kinds[i]}`);
          out[off + 4 + i] = t.kinds[i];
        }
        break;
      case 'cookie':
        if (t.cookie.length === 0) throw new RangeError('empty cookie');
        out[off] = CONVERT_TLV.cookie;
        out.set(t.cookie, off + 4);
        break;
      case 'error':
        out[off] = CONVERT_TLV.error;
        out[off + 2] = t.code;
        out.set(t.value, off + 3);
        break;
      case 'unknown':
        out[off] = t.code;
        out.set(t.value, off + 2);
        break;
    }
    off += len;
  }
  return out;
}

/** The Error TLV message a converter sends back (RFC 8803 4.2.8), e.g. after a refused connect. */
export function convertErrorMessage(code: number, value: Uint8Array = new Uint8Array(1)): Uint8Array {
  return encodeConvert([{ type: 'error', code, value }]);
}

const ERROR_NAMES = new Map<number, string>(Object.entries(CONVERT_ERROR).map(([k, v]) => [v, k]));

/** A readable name for an Error TLV code ("destinationUnreachable", or "error 200"). */
export function convertErrorName(code: number): string {
  return ERROR_NAMES.get(code) ?? `error ${code}`;
}
