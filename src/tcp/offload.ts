// What the device under the core does for the TCP sender (DESIGN.md, "The cost of a packet"): a
// TUN with TUN_F_CSUM completes TCP checksums from the pseudo-header sum, and one with TSO4/TSO6
// cuts a super-segment of up to 64 KB into pieces of gso_size payload bytes, copying the TCP
// header, options included, onto each (Linux tcp_gso_segment). The driver says so once
// (SansIo.setOffload); the stack's sockets share its one record.

export class TxOffload {
  /** The device completes TCP checksums: the core leaves the field for the driver to fill. */
  csum = false;
  /** The longest IP packet the device cuts into MSS pieces (0: none; every segment one MSS). */
  maxPacket = 0;
}

/** No offload: every segment one MSS with its checksum complete (shared, never changed). */
export const NO_OFFLOAD: Readonly<TxOffload> = Object.freeze(new TxOffload());

/** The IPv4 total length and the IPv6 payload length are 16-bit fields (RFC 791, RFC 8200). */
export const MAX_IP_PACKET = 0xffff;
