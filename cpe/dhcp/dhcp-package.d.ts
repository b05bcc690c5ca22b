// Typed declarations for the parts of the `dhcp` npm package (node-dhcp 0.2.20, CommonJS, untyped)
// that this project uses: its message codec, as an independent second implementation that the unit
// tests cross-check cpe/dhcp/wire.ts against. Its Server and Client are not used (see
// cpe/dhcp/server.ts and client.ts for why).
declare module 'dhcp/lib/protocol.js' {
  /** node-dhcp's decoded message: options keyed by code, values decoded by its option table. */
  export interface NodeDhcpMessage {
    op: number;
    htype: number;
    hlen: number;
    hops: number;
    xid: number;
    secs: number;
    flags: number;
    ciaddr: string;
    yiaddr: string;
    siaddr: string;
    giaddr: string;
    /** Upper-case, dash-separated ("02-00-00-00-00-01"). */
    chaddr: string;
    sname: string;
    file: string;
    magicCookie?: number;
    options: Record<number, unknown>;
  }
  /** A growable byte buffer: `_data` holds the bytes, `_w` how many were written. */
  export interface SeqBuffer {
    _data: Buffer;
    _w: number;
  }
  /** Throws on short input or a non-Ethernet hardware address. */
  export function parse(buf: Buffer): NodeDhcpMessage;
  export function format(msg: Omit<NodeDhcpMessage, 'magicCookie'>): SeqBuffer;
  const protocol: { parse: typeof parse; format: typeof format };
  export default protocol;
}
