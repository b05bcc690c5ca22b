// Delivery-rate estimation of a TCP sender (draft-cheng-iccrg-delivery-rate-estimation, section
// 4.1 of draft-ietf-ccwg-bbr): at each transmission the connection's delivery counters are
// snapshotted into the segment's record (P.delivered, P.delivered_time, P.first_send_time,
// P.is_app_limited, P.tx_in_flight, P.lost); each ACK that newly acknowledges records,
// cumulatively or by SACK, yields one rate sample from the most recently sent of them.
//
// Records live in a ring of typed arrays in sequence order (new data is sent in order; a
// retransmission refreshes the records it covers), one stride of numbers per sent segment, so the
// per-ACK path allocates nothing. Sequence numbers are turned into offsets that do not wrap: the
// sampler follows snd.una (unaSeq) and counts the bytes below it (unaAbs).
//
// The socket drives it: begin() at the start of ACK processing, ackedTo() for the cumulative ACK,
// sacked() per newly SACKed range, lost() for bytes newly marked lost, then generate(); sent() after each
// data segment goes out. The fields named like the draft's RS.* are the sample.

// Fields of a record (stride F).
const START = 0;
const END = 1;
const DELIVERED = 2;
const DELIVERED_TIME = 3;
const FIRST_SEND_TIME = 4;
const SEND_TIME = 5;
const TX_IN_FLIGHT = 6;
const LOST = 7;
const FLAGS = 8;
const F = 9;
const APP_LIMITED = 1;
const ACKED = 2;
const RETRANSMITTED = 4;

const MIN_RECORDS = 64;

export class RateSampler {
  // Connection state (the draft's C.*), bytes and ms.
  /** Bytes delivered (acknowledged cumulatively or selectively) over the connection's life. */
  delivered = 0;
  /** When `delivered` last grew. */
  deliveredTime = 0;
  private firstSendTime = 0;
  /** C.app_limited: the `delivered` count that ends the current application-limited bubble, or 0. */
  appLimited = 0;
  /** Bytes marked lost over the connection's life. */
  lostTotal = 0;

  // The rate sample of the current ACK (RS.*).
  /** Bytes delivered over the sampling interval (RS.delivered). */
  sampleDelivered = 0;
  /** The sampling interval in ms (RS.interval), 0 without a sample. */
  interval = 0;
  /** Bytes per ms, 0 when this ACK gave no reliable sample (RS.delivery_rate). */
  deliveryRate = 0;
  /** Whether the newest acknowledged segment was sent in an application-limited phase. */
  isAppLimited = false;
  /** RS.prior_delivered: `delivered` when the newest acknowledged segment was sent. */
  priorDelivered = 0;
  /** RS.tx_in_flight: bytes in flight just after the newest acknowledged segment was sent. */
  txInFlight = 0;
  /** RS.lost: bytes marked lost between that segment's transmission and now. */
  lost = 0;
  /** RTT of the newest acknowledged segment in ms, or -1 (none, or it was retransmitted). */
  rtt = -1;
  /** Bytes newly acknowledged by this ACK (RS.newly_acked). */
  newlyAcked = 0;
  /** Bytes newly marked lost on this ACK (RS.newly_lost). */
  newlyLost = 0;
  private hasData = false;
  private priorTime = 0;
  private sendElapsed = 0;
  private ackElapsed = 0;
  private newestEnd = 0;
  private newestSendTime = 0;
  private newestRetransmitted = false;
  private newestLost = 0;

  private rec = new Float64Array(MIN_RECORDS * F);
  private head = 0;
  private count = 0;
  private unaSeq: number;
  private unaAbs = 0;

  constructor(sndUna: number) {
    this.unaSeq = sndUna;
  }

  private get cap(): number {
    return this.rec.length / F;
  }

  /** Index into `rec` of the i-th record from the head. */
  private at(i: number): number {
    return ((this.head + i) % this.cap) * F;
  }

  /** Offset (bytes since the sampler began) of sequence number `seq`. */
  private abs(seq: number): number {
    return this.unaAbs + ((seq - this.unaSeq) | 0);
  }

  /**
   * A data segment [seq, seq+len) left (section 4.1.2.2, OnPacketSent). `inFlight` is the bytes in
   * flight before it; `retransmit` whether it resends bytes sent before.
   */
  sent(now: number, seq: number, len: number, inFlight: number, retransmit: boolean): void {
    if (len <= 0) return;
    if (inFlight <= 0) {
      this.firstSendTime = now;
      this.deliveredTime = now;
    }
    const s = this.abs(seq);
    const e = s + len;
    const r = this.rec;
    if (!retransmit && (this.count === 0 || r[this.at(this.count - 1) + END] <= s)) {
      if (this.count === this.cap) this.grow();
      const o = this.at(this.count++);
      r[o + START] = s;
      r[o + END] = e;
      this.snapshot(o, now, inFlight + len, 0);
      return;
    }
    // A retransmission: refresh every record it overlaps (Karn: no RTT from them later).
    for (let i = this.find(s); i < this.count; i++) {
      const o = this.at(i);
      if (r[o + START] >= e) break;
      if (!(r[o + FLAGS] & ACKED)) this.snapshot(o, now, inFlight + len, RETRANSMITTED);
    }
  }

  private snapshot(o: number, now: number, txInFlight: number, flags: number): void {
    const r = this.rec;
    r[o + DELIVERED] = this.delivered;
    r[o + DELIVERED_TIME] = this.deliveredTime;
    r[o + FIRST_SEND_TIME] = this.firstSendTime;
    r[o + SEND_TIME] = now;
    r[o + TX_IN_FLIGHT] = txInFlight;
    r[o + LOST] = this.lostTotal;
    r[o + FLAGS] = flags | (this.appLimited !== 0 ? APP_LIMITED : 0);
  }

  /** The first record (index from the head) whose end lies above offset `off`. */
  private find(off: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.rec[this.at(mid) + END] <= off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private grow(): void {
    const next = new Float64Array(this.rec.length * 2);
    for (let i = 0; i < this.count; i++) next.set(this.rec.subarray(this.at(i), this.at(i) + F), i * F);
    this.rec = next;
    this.head = 0;
  }

  /** Start of an ACK (section 4.1.2.3, InitRateSample). */
  begin(): void {
    this.hasData = false;
    this.newlyAcked = 0;
    this.newlyLost = 0;
    this.deliveryRate = 0;
    this.interval = 0;
    this.sampleDelivered = 0;
    this.rtt = -1;
  }

  /** The cumulative ACK moved snd.una to `ack`: records wholly below it are delivered and dropped. */
  ackedTo(now: number, ack: number): void {
    const adv = (ack - this.unaSeq) | 0;
    if (adv <= 0) return;
    this.unaSeq = ack;
    this.unaAbs += adv;
    const r = this.rec;
    while (this.count > 0) {
      const o = this.at(0);
      if (r[o + END] > this.unaAbs) break;
      this.deliver(o, now);
      this.head = (this.head + 1) % this.cap;
      this.count--;
    }
  }

  /**
   * Bytes [left, right) newly SACKed (the socket passes only what its scoreboard had not yet
   * SACKed): the records inside are delivered, so the work per ACK is bounded by the new bytes.
   */
  sacked(now: number, left: number, right: number): void {
    const l = Math.max(this.abs(left), this.unaAbs);
    const rt = this.abs(right);
    if (rt <= l) return;
    const r = this.rec;
    for (let i = this.find(l); i < this.count; i++) {
      const o = this.at(i);
      if (r[o + START] >= rt) break;
      if (r[o + START] >= l && r[o + END] <= rt) this.deliver(o, now);
    }
  }

  /** Section 4.1.2.3, UpdateRateSample: the record at `o` is delivered. */
  private deliver(o: number, now: number): void {
    const r = this.rec;
    const flags = r[o + FLAGS];
    if (flags & ACKED) return;
    r[o + FLAGS] = flags | ACKED;
    const len = r[o + END] - r[o + START];
    this.delivered += len;
    this.deliveredTime = now;
    this.newlyAcked += len;
    const sendTime = r[o + SEND_TIME];
    // IsNewestPacket: the most recently sent of the segments this ACK delivered.
    if (
      !this.hasData ||
      sendTime > this.firstSendTime ||
      (sendTime === this.firstSendTime && r[o + END] > this.newestEnd)
    ) {
      this.hasData = true;
      this.priorDelivered = r[o + DELIVERED];
      this.priorTime = r[o + DELIVERED_TIME];
      this.isAppLimited = (flags & APP_LIMITED) !== 0;
      this.sendElapsed = sendTime - r[o + FIRST_SEND_TIME];
      this.ackElapsed = now - this.priorTime;
      this.newestEnd = r[o + END];
      this.newestSendTime = sendTime;
      this.newestRetransmitted = (flags & RETRANSMITTED) !== 0;
      this.newestLost = r[o + LOST];
      this.txInFlight = r[o + TX_IN_FLIGHT];
      this.firstSendTime = sendTime;
    }
  }

  /** `bytes` were newly marked lost (C.lost). */
  markLost(bytes: number): void {
    if (bytes <= 0) return;
    this.lostTotal += bytes;
    this.newlyLost += bytes;
  }

  /**
   * Section 4.1.2.4, MarkConnectionAppLimited: the sender has nothing to send while the window
   * would allow it; samples until this bubble is acknowledged are application-limited.
   */
  markAppLimited(inFlight: number): void {
    this.appLimited = Math.max(this.delivered + inFlight, 1);
  }

  /**
   * Section 4.1.2.3, GenerateRateSample: the sample of this ACK. Returns whether it delivered
   * anything; `deliveryRate` stays 0 when the interval is shorter than `minRtt` (not reliable).
   */
  generate(now: number, minRtt: number): boolean {
    if (this.appLimited !== 0 && this.delivered > this.appLimited) this.appLimited = 0;
    if (!this.hasData) return false;
    this.interval = Math.max(this.sendElapsed, this.ackElapsed);
    this.sampleDelivered = this.delivered - this.priorDelivered;
    this.lost = this.lostTotal - this.newestLost;
    this.rtt = this.newestRetransmitted ? -1 : now - this.newestSendTime;
    // Section 4.1.3.5, option 2: no rate from a retransmitted range. TCP cannot tell which copy was
    // acknowledged; after an RTO that fired with the originals still queued at the bottleneck,
    // their ACKs would be credited to the retransmissions, sent moments ago, and overstate the rate.
    if (this.interval > 0 && this.interval >= minRtt && !this.newestRetransmitted) {
      this.deliveryRate = this.sampleDelivered / this.interval;
    }
    return true;
  }
}
