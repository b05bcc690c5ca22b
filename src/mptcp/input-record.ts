// What one input told a subflow at the data level (RFC 8684 3.3): the subflow fills it in while
// its TCP socket processes a segment, and its connection reads it once the input is done, acting
// on all of it at once with one scheduler pass (MptcpConnection.afterInput). One per subflow,
// reused for every segment.

export class InputRecord {
  /** The highest DATA_ACK the input carried (relative DSN, RFC 8684 3.3.2), or -1. */
  dataAck = -1;
  /** Right edge of the connection-level window the peer advertised (DATA_ACK + window, 3.3.4), or -1. */
  windowRight = -1;
  /** DSN of the peer's DATA_FIN (3.3.3), or -1. */
  dataFin = -1;
  /** On its connection's list of subflows to read (until the connection has read it). */
  pending = false;

  clear(): void {
    this.dataAck = -1;
    this.windowRight = -1;
    this.dataFin = -1;
    this.pending = false;
  }
}
