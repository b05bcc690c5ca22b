// Receive-window right-sizing at the connection level (the idea of Linux's tcp_rcv_space_adjust,
// "dynamic right-sizing"): the window offered to the peer follows what the application reads per
// round trip, not the whole buffer. A reader that keeps up sees the window grow ahead of the
// sender (twice what it read in the last round trip, more while that doubles, as in slow start);
// a reader slower than the paths (a CPE relaying to a LAN host that reads at 8 Mbit/s) keeps the
// window near what it takes, so the sender is told the receiver is the limit after about one
// round trip instead of after the whole buffer has filled at line rate (issue 14: a primary-first
// download then looked as if the primaries were full, and overflowed to LTE). The space only
// grows (a window must not shrink, RFC 9293 3.8.6.2.2; RFC 8684 3.3.4 at the data level).

/** Room given before the first round trip of reads: enough for the first windows of slow start. */
export const RCV_SPACE_INITIAL = 256 * 1024;

/** Above twice a round trip's reads, as Linux adds 16 segments: slack for reordering across paths. */
const HEADROOM = 64 * 1024;

export class RcvSpace {
  /** The connection-level window's limit: the buffer the peer may fill beyond what is read. */
  space: number;
  private roundAt = -1;
  private readAtRound = 0;
  private read = 0;

  constructor(private readonly max: number) {
    this.space = Math.min(max, RCV_SPACE_INITIAL);
  }

  /**
   * The application read `n` bytes at `now` (ms); `rtt` is the connection's round trip (ms, the
   * longest of its subflows': the peer's reaction to a window opened on any of them). Returns
   * whether the space grew.
   */
  onRead(n: number, now: number, rtt: number): boolean {
    this.read += n;
    if (this.roundAt < 0) {
      this.roundAt = now;
      this.readAtRound = this.read - n;
      return false;
    }
    if (now - this.roundAt < rtt || this.space >= this.max) return false;
    const perRtt = this.read - this.readAtRound;
    this.roundAt = now;
    this.readAtRound = this.read;
    let want = 2 * perRtt + HEADROOM;
    // Reads growing from round to round (the sender in slow start): as much again ahead.
    if (perRtt > this.space / 2) want += 2 * perRtt;
    if (want <= this.space) return false;
    this.space = Math.min(this.max, want);
    return true;
  }
}
