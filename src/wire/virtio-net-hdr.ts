// struct virtio_net_hdr, the 10 bytes a TUN opened with IFF_VNET_HDR puts in front of each packet
// (virtio 1.x, section 5.1.6 "Device Operation"; Linux include/uapi/linux/virtio_net.h): the
// kernel's checksum verdict and GRO size on the packets it hands over, and the checksum and
// segmentation requests on the packets written to it. Fields are little-endian (the addon sets
// TUNSETVNETLE on big-endian hosts). Reading and writing work in place, without allocation.
import { setU16 } from './bytes.js';
import { finish } from './checksum.js';
import { WireError } from './error.js';
import { PacketView } from './packet.js';
import { TCP_FLAG } from './tcp.js';

export const VNET_HDR_LEN = 10;

/** flags: checksum from csum_start to the end is partial, finish it at csum_start + csum_offset. */
export const VNET_F_NEEDS_CSUM = 1;
/** flags: the checksum was verified (the NIC or the kernel found it correct). */
export const VNET_F_DATA_VALID = 2;

/** gso_type values (the ECN bit may be or-ed in). */
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 0x80;

/** Offset of the TCP checksum field in the TCP header (RFC 9293 3.1). */
const TCP_CHECKSUM_OFF = 16;

function le16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function setLe16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

export function vnetFlags(b: Uint8Array, off: number): number {
  return b[off];
}

/** gso_type without the ECN bit. */
export function vnetGsoType(b: Uint8Array, off: number): number {
  return b[off + 1] & ~VNET_GSO_ECN;
}

export function vnetHdrLen(b: Uint8Array, off: number): number {
  return le16(b, off + 2);
}

/** The size of each segment a super-packet stands for (0 for an ordinary packet). */
export function vnetGsoSize(b: Uint8Array, off: number): number {
  return le16(b, off + 4);
}

export function vnetCsumStart(b: Uint8Array, off: number): number {
  return le16(b, off + 6);
}

export function vnetCsumOffset(b: Uint8Array, off: number): number {
  return le16(b, off + 8);
}

/**
 * Whether the kernel vouches for the packet's checksum: DATA_VALID (verified), or NEEDS_CSUM (a
 * locally made packet whose checksum is only the pseudo-header part; Linux accepts such a
 * CHECKSUM_PARTIAL packet unverified, skb_csum_unnecessary()).
 */
export function vnetChecksumTrusted(b: Uint8Array, off: number): boolean {
  return (b[off] & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0;
}

export function writeVnetHdr(
  b: Uint8Array,
  off: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): void {
  b[off] = flags;
  b[off + 1] = gsoType;
  setLe16(b, off + 2, hdrLen);
  setLe16(b, off + 4, gsoSize);
  setLe16(b, off + 6, csumStart);
  setLe16(b, off + 8, csumOffset);
}

/** The header of an ordinary packet with a complete checksum: all zero. */
export function zeroVnetHdr(b: Uint8Array, off: number): void {
  b.fill(0, off, off + VNET_HDR_LEN);
}

/**
 * Turns a complete IPv4/IPv6 + TCP packet into a super-segment for a TUN with TUN_F_CSUM and TSO:
 * fills its virtio_net_hdr (gso_type TCPV4/TCPV6, gso_size = the MSS, hdr_len = IP + TCP headers,
 * NEEDS_CSUM with csum_start at the TCP header and csum_offset 16) and sets the TCP checksum field
 * to the folded pseudo-header sum over the whole segment's length, as Linux does for
 * CHECKSUM_PARTIAL (tcp_v4_send_check): the kernel cuts the payload into MSS pieces, copies the
 * headers (options included) onto each, fixes the lengths, IPv4 IDs and checksums. A payload of
 * at most one MSS gets gso_type NONE (only the checksum is left to the kernel). The IP header must
 * be complete (IPv4 header checksum included). Reuses one view: no allocation but for errors.
 */
export class SuperSegmentWriter {
  private readonly view = new PacketView();

  /**
   * The packet is buf[pktOff, pktOff + len), its header goes at buf[hdrOff, hdrOff + 10). Returns
   * an error for a packet that is not TCP or a bad MSS, and leaves the header untouched then.
   */
  write(buf: Uint8Array, hdrOff: number, pktOff: number, len: number, mss: number): WireError | undefined {
    const v = this.view;
    const e = v.wrap(buf, pktOff, len);
    if (e) return e;
    if (!v.isTcp) return new WireError('bad-field', `protocol ${v.protocol} is not TCP`);
    if (!Number.isInteger(mss) || mss < 1 || mss > 0xffff) return new WireError('bad-field', `MSS ${mss}`);
    const t = v.tcp;
    const csumStart = t.off - pktOff;
    let gsoType = VNET_GSO_NONE;
    let gsoSize = 0;
    if (t.payloadLen > mss) {
      gsoType = v.version === 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6;
      // RFC 3168 6.1.2: CWR goes on the first segment only; the kernel clears it on the rest.
      if (t.flags & TCP_FLAG.cwr) gsoType |= VNET_GSO_ECN;
      gsoSize = mss;
    }
    // The folded (not complemented) pseudo-header sum: what the kernel completes per segment.
    setU16(buf, t.off + TCP_CHECKSUM_OFF, ~finish(v.pseudoSum()) & 0xffff);
    writeVnetHdr(
      buf,
      hdrOff,
      VNET_F_NEEDS_CSUM,
      gsoType,
      csumStart + t.headerLen,
      gsoSize,
      csumStart,
      TCP_CHECKSUM_OFF,
    );
    return undefined;
  }
}
