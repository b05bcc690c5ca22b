// The hooks by which a protocol above TCP rides on a connection's segments: MPTCP adds its option
// to SYNs, SYN/ACKs and every later segment, reads the peer's, cuts segments at its mapping
// boundaries and advertises a connection-level receive window. A plain TCP socket has none.
import type { SegmentIn } from './segment.js';

export interface TcpExtension {
  /** Writes options for our SYN (`synAck` false) or SYN/ACK at buf[off], at most `room` bytes. */
  writeSynOptions(buf: Uint8Array, off: number, room: number, synAck: boolean): number;

  /** The peer's SYN (passive open) or SYN/ACK (active open); its options are in `seg`. */
  onSyn(seg: SegmentIn, synAck: boolean): void;

  /**
   * Option bytes to keep free in a data segment starting at sequence number `seq` (its payload is
   * cut to fit): MPTCP needs more where a mapping starts than where only a DATA_ACK goes.
   */
  optionSpace(seq: number): number;

  /**
   * Caps the payload of a segment starting at sequence number `seq`: a segment must not span
   * two pieces of data the extension maps differently.
   */
  limitPayload(seq: number, len: number): number;

  /**
   * Option bytes (a multiple of 4, at most `room`) for a non-SYN, non-RST segment
   * [seq, seq+len) with these flags.
   */
  optionsLen(seq: number, len: number, flags: number, room: number): number;

  /** Writes options for a RST we send at buf[off], at most `room` bytes; returns how many. */
  writeRstOptions(buf: Uint8Array, off: number, room: number): number;

  /**
   * Writes exactly the optionsLen(...) bytes of options, from buf[off] to buf[payloadOff], for the
   * segment whose payload already sits at buf[payloadOff, payloadOff+len).
   */
  writeOptions(
    buf: Uint8Array,
    off: number,
    seq: number,
    len: number,
    flags: number,
    payloadOff: number,
  ): void;

  /** A segment accepted in a synchronized state, after its ACK was processed, before its data. */
  onSegment(seg: SegmentIn): void;

  /** An acceptable RST (RFC 5961), before the connection closes: its options may say why. */
  onRst(seg: SegmentIn): void;

  /** Bytes the receiver can take (a connection-level window), or Infinity to use the socket's. */
  receiveWindow(): number;

  /**
   * Bytes from SND.UNA that the layer above lets go whatever the peer's window on this connection
   * says (MPTCP: the connection-level window, shared by the subflows), or 0 for the socket's own.
   * Asked before each segment of new data, which the congestion window or the pacer may still hold.
   */
  sendWindow?(): number;

  /** A segment of new data went out past the peer's window on this connection: sendWindow() let it. */
  sentPastWindow?(): void;

  /** Bytes of options writeSynOptions will write (TCP Fast Open needs to know what room is left). */
  synOptionsLen?(synAck: boolean): number;

  /**
   * Our first SYN may carry up to `room` bytes of data (TCP Fast Open, RFC 7413): the extension
   * may put them into the socket's send buffer now (MPTCP hands over the connection's first bytes).
   */
  prepareSynData?(room: number): void;
}
