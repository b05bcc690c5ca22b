// The timer table of one TCP connection: an absolute deadline per timer, Infinity when off, and
// the earliest of them (which the stack keeps in its own queue, src/util/timer-queue.ts). The
// table only holds times; the socket decides what an expired timer does (RFC 9293 3.8, RFC 6298).

const OFF = Number.POSITIVE_INFINITY;

export class SocketTimers {
  /** Retransmission (RFC 6298). */
  rtx = OFF;
  /** Delayed ACK (RFC 5681 4.2). */
  delack = OFF;
  /** Zero-window probe (RFC 9293 3.8.6.1). */
  persist = OFF;
  /** Persist probes since the window closed: the backoff exponent (capped where it is used). */
  persistBackoff = 0;
  /** Persist probes since an ACK last came in (Linux icsk_probes_out). */
  probesOut = 0;
  /** Keepalive (RFC 9293 3.8.4). */
  keepalive = OFF;
  /** Keepalive probes sent without an answer. */
  keepaliveSent = 0;
  /** End of TIME-WAIT (2 MSL), or of an orphan's FIN-WAIT-2 (TcpSocket.orphan): both a silent close. */
  timeWait = OFF;
  /** New data waits for the pacer until then (a burst being spread). */
  pace = OFF;

  /** The earliest deadline, or Infinity. */
  get next(): number {
    return Math.min(this.rtx, this.delack, this.persist, this.keepalive, this.timeWait, this.pace);
  }

  /** TIME-WAIT: nothing is sent any more, so only the delayed ACK and the 2 MSL timer stay. */
  stopSending(): void {
    this.rtx = OFF;
    this.persist = OFF;
    this.keepalive = OFF;
  }

  /** CLOSED: every timer off (the pacer's wake-up runs out by itself). */
  stopAll(): void {
    this.stopSending();
    this.delack = OFF;
    this.timeWait = OFF;
  }
}
