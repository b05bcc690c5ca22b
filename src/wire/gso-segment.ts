// What the kernel does with a TCP super-segment written to a TUN with TSO (Linux tcp_gso_segment,
// after virtio_net_hdr_to_skb): the payload is cut into pieces of gso_size bytes, each piece gets
// a copy of the IP and TCP headers, options included, with its own sequence number, IP length,
// IPv4 identification (incremented per piece) and complete checksums; CWR stays on the first
// piece only (RFC 3168 6.1.2), FIN and PSH on the last only. The simulator cuts what a node's
// core sends this way, as the kernel under a TUN would; tests use it to check what a peer sees.
import { setU16, setU32, u16, u32 } from './bytes.js';
import { finish, pseudoSumV4, pseudoSumV6, sumWords } from './checksum.js';
import { WireError } from './error.js';
import { IPPROTO_TCP, PacketView } from './packet.js';
import { TCP_FLAG } from './tcp.js';

const LAST_ONLY = TCP_FLAG.fin | TCP_FLAG.psh;

export class GsoSegmenter {
  private readonly view = new PacketView();

  /** How many pieces the segment buf[0, len) is cut into at `gsoSize` payload bytes each. */
  count(buf: Uint8Array, len: number, gsoSize: number): number | WireError {
    const e = this.wrap(buf, len, gsoSize);
    if (e) return e;
    const n = this.view.tcp.payloadLen;
    return n <= gsoSize ? 1 : Math.ceil(n / gsoSize);
  }

  /**
   * Writes piece `k` of the segment buf[0, len) into out[0...] with complete checksums (a segment
   * of at most `gsoSize` payload bytes is piece 0, whole, its checksum completed) and returns its
   * length, or an error for a packet that is not TCP or a piece past the end.
   */
  piece(buf: Uint8Array, len: number, gsoSize: number, k: number, out: Uint8Array): number | WireError {
    const e = this.wrap(buf, len, gsoSize);
    if (e) return e;
    const v = this.view;
    const t = v.tcp;
    const total = t.payloadLen;
    const from = k * gsoSize;
    if (k < 0 || (from >= total && !(k === 0 && total === 0)))
      return new WireError('bad-field', `piece ${k} of ${total} bytes`);
    const n = Math.min(gsoSize, total - from);
    const last = from + n >= total;
    const hdr = t.off + t.headerLen; // IP and TCP headers (the IP header at 0)
    out.set(buf.subarray(0, hdr), 0);
    out.set(buf.subarray(hdr + from, hdr + from + n), hdr);
    const tcpLen = t.headerLen + n;
    if (v.version === 4) {
      setU16(out, 2, hdr + n);
      setU16(out, 4, (u16(buf, 4) + k) & 0xffff);
      setU16(out, 10, 0);
      setU16(out, 10, finish(sumWords(out, 0, t.off)));
    } else {
      setU16(out, 4, t.off - 40 + tcpLen);
    }
    setU32(out, t.off + 4, (u32(buf, t.off + 4) + from) >>> 0);
    let flags = buf[t.off + 13];
    if (k > 0) flags &= ~TCP_FLAG.cwr;
    if (!last) flags &= ~LAST_ONLY;
    out[t.off + 13] = flags;
    setU16(out, t.off + 16, 0);
    const ps =
      v.version === 4
        ? pseudoSumV4(out, 12, out, 16, IPPROTO_TCP, tcpLen)
        : pseudoSumV6(out, 8, out, 24, IPPROTO_TCP, tcpLen);
    setU16(out, t.off + 16, finish(sumWords(out, t.off, tcpLen, ps)));
    return hdr + n;
  }

  private wrap(buf: Uint8Array, len: number, gsoSize: number): WireError | undefined {
    const v = this.view;
    const e = v.wrap(buf, 0, len);
    if (e) return e;
    if (!v.isTcp) return new WireError('bad-field', `protocol ${v.protocol} is not TCP`);
    if (!(gsoSize >= 1)) return new WireError('bad-field', `gso_size ${gsoSize}`);
    return undefined;
  }
}
