// The sans-IO contract between the core and whatever moves its packets (DESIGN.md, "The core").
// The core never reads a clock, opens a socket or sets a timer: a driver hands it packets and the
// time, and takes packets and the next deadline from it. Two drivers exist: the TUN driver (real
// time, the event loop) and the network simulator (virtual time). Times are milliseconds.

export interface SansIo {
  /**
   * One IP packet (IPv4 or IPv6, no link header) received at `now`. The bytes belong to the
   * driver and are only valid during the call: the core copies what it keeps. The packet may be
   * longer than the MTU (a TUN's GRO super-packet). `checksumVerified`: the device vouches for the
   * TCP checksum (virtio_net_hdr DATA_VALID, or NEEDS_CSUM where the field holds only a partial
   * sum), so the core must not verify it.
   */
  input(now: number, packet: Uint8Array, checksumVerified?: boolean): void;

  /**
   * Writes the next IP packet to send into `buf` (at least 65535 bytes) and returns its length,
   * or 0 when nothing is ready. Drivers call it until it returns 0 after every input, timeout or
   * wake-up.
   */
  pollTransmit(now: number, buf: Uint8Array): number;

  /**
   * Optional: the device completes TCP checksums (`csum`: the core writes only the rest, see
   * txGsoSize) and cuts TCP super-segments of up to `maxPacket` bytes into MSS pieces, copying the
   * header with its options onto each (0: it does not cut). A driver calls it once, before the
   * first poll, for a TUN with offloads (TUN_F_CSUM, TUN_F_TSO4/6); without the call, every
   * packet is at most one MSS and complete.
   */
  setOffload?(csum: boolean, maxPacket: number): void;

  /**
   * Optional, after setOffload: for the packet pollTransmit wrote last, 0 when it is complete;
   * otherwise it is a TCP segment whose checksum field the driver sets to the pseudo-header sum
   * and the device completes, and this is the payload of each piece the device cuts it into (the
   * segment's MSS; a segment of at most that much goes whole). SuperSegmentWriter does it.
   */
  readonly txGsoSize?: number;

  /** The time at which handleTimeout must next be called, or Infinity when no timer is armed. */
  pollTimeout(): number;

  /** Runs the timers that are due at `now`. */
  handleTimeout(now: number): void;

  /**
   * Registers the function the core calls when something other than input or a timeout (an
   * application write, a close) makes packets or a new deadline ready. The driver then polls.
   */
  setWaker(wake: () => void): void;
}
