// The Transport Converter side of RFC 8803: read the Convert message at the start of the client's
// byte stream (whether it came in the SYN or later), check the cookie when per-CPE cookies are
// configured, and start the connection to the server as soon as the Connect TLV is parsed. The
// reply is the Convert header (RFC 8803 5: the converter's first bytes back), then the server's
// bytes; a refusal is an Error TLV (4.2.8) and the close.
import {
  type BondingPolicy,
  CONVERT_ERROR,
  type ConvertTlv,
  convertErrorMessage,
  decodeConvert,
  decodePolicy,
  encodeConvert,
  POLICY_TLV,
} from '../src/convert/index.js';
import { formatIp, hostPort } from './addr.js';
import { connectEgress, type EgressFailure, type EgressOptions } from './egress.js';
import type { HandshakeReader, Parsed } from './handshake-reader.js';
import type { Outcome } from './outcome.js';

type TlvOf<K extends ConvertTlv['type']> = Extract<ConvertTlv, { type: K }>;

/** TCP options the egress (the kernel's TCP) uses anyway: a Connect may ask for them. */
const SUPPORTED_KINDS = [2, 3, 4, 8]; // MSS, window scale, SACK permitted, timestamps

/** RFC 8803 4.2.8: Error TLV codes for why the server connection failed. */
function errorFor(f: EgressFailure): number {
  switch (f) {
    case 'forbidden-destination':
      return CONVERT_ERROR.notAuthorized;
    case 'destination-refused':
      return CONVERT_ERROR.connectionReset;
    case 'dns-failure':
    case 'destination-unreachable':
    case 'network-unreachable':
    case 'connect-timeout':
      return CONVERT_ERROR.destinationUnreachable;
    default:
      return CONVERT_ERROR.networkFailure;
  }
}

function parse(b: Uint8Array): Parsed<ConvertTlv[]> {
  const r = decodeConvert(b);
  if (r.kind === 'ok') return { kind: 'ok', value: r.message.tlvs, consumed: r.consumed };
  if (r.kind === 'incomplete') return { kind: 'incomplete' };
  return { kind: 'error', error: { reason: r.error.reason, code: r.error.code } };
}

/** The first TCP option kind in `opts` that the egress cannot honour, if any. */
function unsupportedOption(opts: Uint8Array): number | undefined {
  for (let i = 0; i < opts.length; ) {
    const kind = opts[i];
    if (kind === 0) break; // EOL: the rest is padding
    if (kind === 1) {
      i++;
      continue;
    }
    if (!SUPPORTED_KINDS.includes(kind)) return kind;
    const len = opts[i + 1];
    if (!len || len < 2) return kind;
    i += len;
  }
  return undefined;
}

export interface ConvertSettings {
  /** Hex cookies allowed (RFC 8803 Cookie TLV); empty: no cookie needed. */
  cookies: readonly string[];
  egress: EgressOptions;
}

const refuse = (
  reason: string,
  code: number,
  detail?: string,
  dst?: string,
  value?: Uint8Array,
): Outcome => ({
  kind: 'refused',
  reason,
  detail,
  dst,
  reply: convertErrorMessage(code, value),
});

export async function convertHandshake(reader: HandshakeReader, settings: ConvertSettings): Promise<Outcome> {
  const r = await reader.read(parse);
  if (r.kind === 'error') {
    const e = r.error as { reason: string; code: number };
    return refuse('malformed-convert', e.code, e.reason);
  }
  if (r.kind === 'eof')
    return { kind: 'refused', reason: 'truncated-handshake', detail: `${r.received} bytes then end` };
  if (r.kind === 'timeout')
    return { kind: 'refused', reason: 'handshake-timeout', detail: `${r.received} bytes` };
  if (r.kind === 'too-long') return refuse('malformed-convert', CONVERT_ERROR.malformedMessage, 'too long');
  const tlvs = r.value;

  // RFC 8803 4.2: a TLV the converter does not support gets "Unsupported Message" with its type;
  // our private-use policy TLV (10.2: 192-255) is supported.
  const unknown = tlvs.find((t): t is TlvOf<'unknown'> => t.type === 'unknown' && t.code !== POLICY_TLV);
  if (unknown) {
    return refuse(
      'unsupported-tlv',
      CONVERT_ERROR.unsupportedMessage,
      `TLV ${unknown.code}`,
      undefined,
      Uint8Array.of(unknown.code),
    );
  }
  const connect = tlvs.find((t): t is TlvOf<'connect'> => t.type === 'connect');
  if (!connect) {
    // RFC 8803 4.2.1: an Info TLV alone asks what the converter supports.
    if (tlvs.some((t) => t.type === 'info')) {
      return {
        kind: 'refused',
        reason: 'info-only',
        reply: encodeConvert([{ type: 'supportedTcpExtensions', kinds: SUPPORTED_KINDS }]),
      };
    }
    return refuse('malformed-convert', CONVERT_ERROR.malformedMessage, 'no Connect TLV');
  }
  const dst = hostPort(formatIp(connect.address), connect.port);
  // The CPE's bonding policy for the download: a malformed one is refused like any malformed TLV;
  // one from a newer CPE that this HAG cannot read leaves the HAG's default (and is logged).
  let policy: BondingPolicy | undefined;
  let policyIgnored: string | undefined;
  const p = tlvs.find((t): t is TlvOf<'unknown'> => t.type === 'unknown' && t.code === POLICY_TLV);
  if (p) {
    const d = decodePolicy(p.value);
    if (d.kind === 'malformed')
      return refuse('malformed-convert', CONVERT_ERROR.malformedMessage, d.reason, dst);
    if (d.kind === 'ok') policy = d.policy;
    else policyIgnored = d.reason;
  }
  // RFC 8803 4.2.5: a converter that hands out cookies refuses a Connect without a valid one.
  if (settings.cookies.length > 0) {
    const c = tlvs.find((t): t is TlvOf<'cookie'> => t.type === 'cookie');
    if (!c) return refuse('missing-cookie', CONVERT_ERROR.missingCookie, undefined, dst);
    const hex = Buffer.from(c.cookie).toString('hex');
    // Cookies are padded to a word with zeros: compare against each configured one padded too.
    const ok = settings.cookies.some((k) => {
      const want = k.toLowerCase().padEnd(Math.ceil(k.length / 8) * 8, '0');
      return want === hex;
    });
    if (!ok) return refuse('bad-credentials', CONVERT_ERROR.notAuthorized, 'unknown cookie', dst);
  }
  const bad = unsupportedOption(connect.tcpOptions);
  if (bad !== undefined) {
    return refuse(
      'unsupported-tcp-option',
      CONVERT_ERROR.unsupportedTcpOption,
      `kind ${bad}`,
      dst,
      Uint8Array.of(bad),
    );
  }
  // 0-RTT: dial now, without waiting for anything more from the client.
  const e = await connectEgress({ address: connect.address }, connect.port, settings.egress);
  if (!e.ok) return refuse(e.failure, errorFor(e.failure), e.detail, dst);
  return { kind: 'connected', socket: e.socket, dst, reply: encodeConvert([]), policy, policyIgnored };
}
