// BBR congestion control, version 3 (draft-ietf-ccwg-bbr): a model of the path (the bottleneck
// bandwidth as a max filter of delivery-rate samples over two ProbeBW cycles, the min RTT over
// 10 s, and loss-based bounds on rate and inflight) drives the pacing rate and the window, through
// the states Startup, Drain, ProbeBW (DOWN, CRUISE, REFILL, UP) and ProbeRTT. Section numbers below
// are the draft's. Units: bytes, ms, bytes per ms.
//
// Fed by the sender's rate samples (../rate-sample.ts) on every ACK that delivers or loses data,
// loss recovery included (onRateSample); the sender paces at `pacingRate`.
//
// Where this differs from the draft, and why:
// - Loss signals are taken per ACK from the rate sample (RS.lost, RS.tx_in_flight of the newest
//   delivered segment, as Linux's bbr_is_inflight_too_high), not per lost segment (5.5.10.2
//   HandleLostPacket); the sender marks losses in ranges, not segments, so InflightAtLoss is not
//   computed and inflight_longterm is set from RS.tx_in_flight.
// - The short-term bounds (bw_shortterm, inflight_shortterm, 5.5.10.3) are cut only after a lossy
//   round that lost more than LossThresh (2%) of its data in at least 6 loss events (the noise
//   filter the draft applies to Startup's loss exit) or that had a standing queue all along (no
//   RTT sample under 1.5 times min_rtt), not after any round with a loss. The draft cuts to the round's delivery on every lossy round, so random radio loss of 1%
//   (a loss in nearly every round at an LTE BDP) walks the rate down by the loss rate and the
//   pacing margin per round between probes; with the two tests random loss below the threshold is
//   no signal, while a bottleneck that slows down (a drop-tail queue full, a little loss per round)
//   still cuts the bounds every round as the draft does.
// - IsInflightTooHigh needs at least 6 segments lost besides the 2% (noise filter, see there).
// - Startup's loss exit (5.3.1.3) counts ACKs that marked loss as the "discontiguous lost ranges"
//   and does not wait for a round in fast recovery.
// - No undo of spurious recovery (5.5.11): the sender has no spurious-loss detection.
// - C.is_cwnd_limited is approximated per ACK: inflight before it was within a segment of cwnd.
// - The offload budget (5.5.8) is 2 segments: no TSO/GRO here, but delayed ACKs of 2 segments.
import type { RateSampler } from '../rate-sample.js';
import type { CongestionController, PathEstimate, RttView } from './congestion.js';
import { initialWindow } from './newreno.js';

export type BbrState =
  | 'startup'
  | 'drain'
  | 'probe-bw-down'
  | 'probe-bw-cruise'
  | 'probe-bw-refill'
  | 'probe-bw-up'
  | 'probe-rtt';

// Section 2 constants.
const STARTUP_PACING_GAIN = 2.77; // 4 ln 2
const DRAIN_PACING_GAIN = 0.5;
const DEFAULT_CWND_GAIN = 2;
const PACING_MARGIN = 0.01;
const LOSS_THRESH = 0.02;
const BETA = 0.7;
const HEADROOM = 0.15;
const MIN_PIPE_SEGMENTS = 4;
const MIN_RTT_FILTER_MS = 10_000;
const PROBE_RTT_CWND_GAIN = 0.5;
const PROBE_RTT_DURATION_MS = 200;
const PROBE_RTT_INTERVAL_MS = 5000;
const EXTRA_ACKED_FILTER_ROUNDS = 10;
const STARTUP_FULL_LOSS_COUNT = 6;
const FULL_BW_GROWTH = 1.25;
const FULL_BW_ROUNDS = 3;
/** Our addition: a round whose RTT samples all exceed this multiple of min_rtt had a standing queue. */
const QUEUE_SIGNAL = 1.5;

/** Section 2.14: what the ACKs arriving now say about bandwidth probing. */
const enum AckPhase {
  Init,
  Refilling,
  ProbeStarting,
  ProbeFeedback,
  ProbeStopping,
}

export class Bbr implements CongestionController, PathEstimate {
  readonly name = 'bbr';
  window: number;
  readonly ssthresh = Number.POSITIVE_INFINITY;
  /** C.pacing_rate in bytes per ms; 0 until the first RTT sample sets it (5.6.2). */
  pacingRate = 0;
  state: BbrState = 'startup';
  private pacingGain = STARTUP_PACING_GAIN;
  private cwndGain = DEFAULT_CWND_GAIN;

  // Path model (2.9).
  /** max_bw: the max of the current and the previous ProbeBW cycle's samples (5.5.3). */
  private bwCycle = 0;
  private bwPrevCycle = 0;
  private bwShortterm = Number.POSITIVE_INFINITY;
  private bw = 0;
  private inflightLongterm = Number.POSITIVE_INFINITY;
  private inflightShortterm = Number.POSITIVE_INFINITY;
  minRtt = Number.POSITIVE_INFINITY;
  private minRttStamp = 0;
  private probeRttMinDelay = Number.POSITIVE_INFINITY;
  private probeRttMinStamp = 0;
  private probeRttExpired = false;
  /** extra_acked (5.5.9): two slots of five rounds each stand for the 10-round max filter. */
  private extraAcked = [0, 0];
  private extraAckedSlotRound = 0;
  private extraAckedIntervalStart = 0;
  private extraAckedDelivered = 0;

  // Round counting (5.5.1).
  private nextRoundDelivered = 0;
  private roundStart = false;
  roundCount = 0;
  private roundsSinceProbeUp = 0;

  // Full pipe (5.3.1.2).
  private fullBw = 0;
  private fullBwCount = 0;
  private fullBwNow = false;
  fullBwReached = false;

  // Congestion signals (2.10, 5.5.10).
  private lossRoundDelivered = 0;
  private lossRoundStart = false;
  private isLossInRound = false;
  private lossEventsInRound = 0;
  private lostInRound = 0;
  private deliveredInRound = 0;
  private bwLatest = 0;
  private inflightLatest = 0;
  /** The lowest RTT sample of the current loss round (ours, for the queue signal). */
  private rttInRound = Number.POSITIVE_INFINITY;

  // ProbeBW (2.14).
  private ackPhase = AckPhase.Init;
  private isBwProbeSample = false;
  private bwProbeUpAcked = 0;
  private probeUpAckedPerInc = Number.POSITIVE_INFINITY;
  private bwProbeUpRounds = 0;
  private bwProbeWait = 0;
  private cycleStamp = 0;
  private prevProbeTooHigh = false;
  private prevProbePrecautionary = false;
  private drainStartRound = 0;

  // ProbeRTT, idle, recovery (2.16, 5.4, 5.6.4.4).
  private probeRttDoneStamp = 0;
  private probeRttRoundDone = false;
  private priorCwnd = 0;
  private idleRestart = false;
  private inRecovery = false;
  private inflight = 0;
  /** C.delivered as of the latest sample (where a transition starts a round). */
  private delivered = 0;
  private cwndLimited = false;
  private rng: number;
  /** The window it started from: RFC 6928's, or the path's (seed). */
  private initCwnd: number;

  /**
   * `seed` starts the connection's random stream (the probe timing of 5.3.3.8, PickProbeWait): the
   * stack draws one per connection from its random source, seeded in a simulation.
   */
  constructor(
    private mss: number,
    seed: number,
  ) {
    this.window = initialWindow(mss);
    this.initCwnd = this.window;
    this.rng = seed >>> 0 || 1;
  }

  // ------------------------------------------------------------- the read-only path estimate

  /** Estimated bottleneck bandwidth in bytes per ms (BBR.bw), 0 before a sample. */
  get bandwidth(): number {
    return this.bw;
  }

  get estimate(): PathEstimate {
    return this;
  }

  // ------------------------------------------------------------- events from the sender

  /** Everything happens per rate sample (onRateSample), in recovery too. */
  onAck(_now: number, _acked: number, _inFlight: number, _cwndLimited: boolean, _rtt: RttView): void {}

  onRateSample(now: number, rs: RateSampler, inFlightBefore: number, inFlight: number, rtt: RttView): void {
    this.inflight = inFlight;
    this.delivered = rs.delivered;
    this.cwndLimited = inFlightBefore + this.mss > this.window;
    if (this.pacingRate === 0) this.initPacingRate(rtt);
    if (rs.newlyLost > 0) this.noteLoss(now, rs);
    // 5.2.3 UpdateModelAndState.
    this.updateLatestDeliverySignals(rs);
    this.updateCongestionSignals(rs);
    this.updateAckAggregation(now, rs);
    this.checkFullBwReached(rs);
    this.checkStartupDone(rs);
    this.checkDrainDone(now);
    this.updateProbeBwCyclePhase(now, rs);
    this.updateMinRtt(now, rs);
    this.checkProbeRtt(now, rs);
    this.advanceLatestDeliverySignals(rs);
    this.bw = Math.min(this.maxBw, this.bwShortterm); // BoundBWForModel
    // 5.2.3 UpdateControlParameters.
    this.setPacingRate(this.pacingGain);
    this.setCwnd(rs);
  }

  onCongestionEvent(_now: number, _inFlight: number): void {
    // 5.6.4.4 OnEnterFastRecovery: the window stays; the model's loss response bounds it.
    this.saveCwnd();
    this.inRecovery = true;
  }

  onRetransmissionTimeout(_now: number, _inFlight: number): void {
    // 5.6.4.4 OnEnterRTO: C.inflight + 1 once everything outstanding is marked lost.
    this.saveCwnd();
    this.inRecovery = true;
    this.window = this.mss;
  }

  onRecoveryEnd(): void {
    this.inRecovery = false;
    this.window = Math.max(this.window, this.priorCwnd); // RestoreCwnd
  }

  onIdleRestart(now: number): void {
    // 5.4.1 HandleRestartFromIdle (the sender calls this when it restarts with nothing in flight).
    this.idleRestart = true;
    this.extraAckedIntervalStart = now;
    if (this.isInProbeBw()) this.setPacingRate(1);
    else if (this.state === 'probe-rtt') this.checkProbeRttDone(now);
  }

  setMss(mss: number): void {
    this.mss = mss;
  }

  /** The initial cwnd of the draft (5.6.4.1, InitialCwnd), also the start of its pacing rate (5.6.2). */
  seed(window: number, _ssthresh: number): void {
    this.window = window;
    this.initCwnd = window;
  }

  // ------------------------------------------------------------- model (5.5)

  private get maxBw(): number {
    return Math.max(this.bwCycle, this.bwPrevCycle);
  }

  private get minPipeCwnd(): number {
    return MIN_PIPE_SEGMENTS * this.mss;
  }

  private initPacingRate(rtt: RttView): void {
    const srtt = rtt.srtt || rtt.latest;
    if (srtt <= 0) return;
    this.pacingRate = (STARTUP_PACING_GAIN * this.initCwnd) / srtt;
  }

  /** 5.5.1 UpdateRound and StartRound. */
  private updateRound(rs: RateSampler): void {
    if (rs.newlyAcked > 0 && rs.priorDelivered >= this.nextRoundDelivered) {
      this.nextRoundDelivered = rs.delivered;
      this.roundCount++;
      this.roundsSinceProbeUp++;
      this.roundStart = true;
    } else {
      this.roundStart = false;
    }
  }

  private startRound(): void {
    this.nextRoundDelivered = this.delivered;
  }

  private updateLatestDeliverySignals(rs: RateSampler): void {
    this.lossRoundStart = false;
    this.bwLatest = Math.max(this.bwLatest, rs.deliveryRate);
    this.inflightLatest = Math.max(this.inflightLatest, rs.sampleDelivered);
    this.deliveredInRound += rs.newlyAcked;
    if (rs.rtt >= 0 && rs.rtt < this.rttInRound) this.rttInRound = rs.rtt;
    if (rs.newlyAcked > 0 && rs.priorDelivered >= this.lossRoundDelivered) {
      this.lossRoundDelivered = rs.delivered;
      this.lossRoundStart = true;
    }
  }

  private advanceLatestDeliverySignals(rs: RateSampler): void {
    if (this.lossRoundStart) {
      this.bwLatest = rs.deliveryRate;
      this.inflightLatest = rs.sampleDelivered;
      this.lostInRound = 0;
      this.deliveredInRound = 0;
      this.lossEventsInRound = 0;
      this.rttInRound = rs.rtt >= 0 ? rs.rtt : Number.POSITIVE_INFINITY;
    }
  }

  private resetCongestionSignals(): void {
    this.isLossInRound = false;
    this.bwLatest = 0;
    this.inflightLatest = 0;
  }

  private updateCongestionSignals(rs: RateSampler): void {
    this.updateMaxBw(rs);
    if (!this.lossRoundStart) return;
    this.adaptLowerBoundsFromCongestion();
    this.isLossInRound = false;
  }

  /** 5.5.5 UpdateMaxBw. */
  private updateMaxBw(rs: RateSampler): void {
    this.updateRound(rs);
    const r = rs.deliveryRate;
    if (r > 0 && (r >= this.maxBw || !rs.isAppLimited)) this.bwCycle = Math.max(this.bwCycle, r);
  }

  /** 5.5.6 AdvanceMaxBwFilter: the filter keeps this cycle and the previous one. */
  private advanceMaxBwFilter(): void {
    this.bwPrevCycle = this.bwCycle;
    this.bwCycle = 0;
  }

  /**
   * 5.5.10.3, once per round. Only a lossy round that is a congestion signal counts (see the top):
   * more than LossThresh of its data lost in at least 6 loss events (Startup's noise filter,
   * 5.3.1.3), or no RTT sample in it below QUEUE_SIGNAL times the min RTT (a standing queue all
   * round: the bottleneck slowed down).
   */
  private adaptLowerBoundsFromCongestion(): void {
    if (this.isProbingBw() || !this.isLossInRound) return;
    const lossy =
      this.lossEventsInRound >= STARTUP_FULL_LOSS_COUNT &&
      this.lostInRound > LOSS_THRESH * (this.lostInRound + this.deliveredInRound);
    if (!lossy && this.rttInRound <= QUEUE_SIGNAL * this.minRtt) return;
    if (this.bwShortterm === Number.POSITIVE_INFINITY) this.bwShortterm = this.maxBw;
    if (this.inflightShortterm === Number.POSITIVE_INFINITY) this.inflightShortterm = this.window;
    this.bwShortterm = Math.max(this.bwLatest, BETA * this.bwShortterm);
    this.inflightShortterm = Math.max(this.inflightLatest, BETA * this.inflightShortterm);
  }

  private resetShortTermModel(): void {
    this.bwShortterm = Number.POSITIVE_INFINITY;
    this.inflightShortterm = Number.POSITIVE_INFINITY;
  }

  /** 5.5.10.2 NoteLoss and the per-ACK form of HandleLostPacket. */
  private noteLoss(now: number, rs: RateSampler): void {
    if (!this.isLossInRound) this.lossRoundDelivered = rs.delivered;
    this.isLossInRound = true;
    this.lostInRound += rs.newlyLost;
    this.lossEventsInRound++;
    if (this.isBwProbeSample && this.isInflightTooHigh(rs)) this.handleInflightTooHigh(now, rs);
  }

  /**
   * 5.5.10.2 IsInflightTooHigh, with a floor of 6 segments lost (ours; the count Startup's loss
   * exit asks for): at 1% random loss a 200-segment flight loses 2 on average and more than 4 by
   * chance on 1 sample in 20, which without the floor ends nearly every probe and pins
   * inflight_longterm below the BDP. An overflowing queue loses far more than 6.
   */
  private isInflightTooHigh(rs: RateSampler): boolean {
    return rs.lost > rs.txInFlight * LOSS_THRESH && rs.lost >= STARTUP_FULL_LOSS_COUNT * this.mss;
  }

  private handleInflightTooHigh(now: number, rs: RateSampler): void {
    this.prevProbeTooHigh = true;
    this.isBwProbeSample = false; // react once per probe
    if (!rs.isAppLimited) {
      this.inflightLongterm = Math.max(rs.txInFlight, this.targetInflight() * BETA);
    }
    if (this.state === 'probe-bw-up') this.startProbeBwDown(now);
  }

  /** 5.5.9 UpdateACKAggregation. */
  private updateAckAggregation(now: number, rs: RateSampler): void {
    if (rs.newlyAcked <= 0) return;
    const interval = now - this.extraAckedIntervalStart;
    let expected = this.bw * interval;
    if (this.extraAckedDelivered <= expected) {
      this.extraAckedDelivered = 0;
      this.extraAckedIntervalStart = now;
      expected = 0;
    }
    this.extraAckedDelivered += rs.newlyAcked;
    const extra = Math.min(this.extraAckedDelivered - expected, this.window);
    const len = this.fullBwReached ? EXTRA_ACKED_FILTER_ROUNDS / 2 : 1;
    if (this.roundStart && this.roundCount - this.extraAckedSlotRound >= len) {
      this.extraAckedSlotRound = this.roundCount;
      this.extraAcked[1] = this.extraAcked[0];
      this.extraAcked[0] = 0;
    }
    if (extra > this.extraAcked[0]) this.extraAcked[0] = extra;
  }

  private get extraAckedMax(): number {
    return Math.max(this.extraAcked[0], this.extraAcked[1]);
  }

  /** 5.5.7 and 5.3.4.3 UpdateMinRTT. */
  private updateMinRtt(now: number, rs: RateSampler): void {
    this.probeRttExpired = now > this.probeRttMinStamp + PROBE_RTT_INTERVAL_MS;
    if (rs.rtt >= 0 && (rs.rtt < this.probeRttMinDelay || this.probeRttExpired)) {
      this.probeRttMinDelay = rs.rtt;
      this.probeRttMinStamp = now;
    }
    const minRttExpired = now > this.minRttStamp + MIN_RTT_FILTER_MS;
    if (this.probeRttMinDelay < this.minRtt || minRttExpired) {
      this.minRtt = this.probeRttMinDelay;
      this.minRttStamp = this.probeRttMinStamp;
    }
  }

  // ------------------------------------------------------------- state machine (5.3)

  private enterStartup(): void {
    this.state = 'startup';
    this.pacingGain = STARTUP_PACING_GAIN;
    this.cwndGain = DEFAULT_CWND_GAIN;
  }

  private resetFullBw(): void {
    this.fullBw = 0;
    this.fullBwCount = 0;
    this.fullBwNow = false;
  }

  /** 5.3.1.2 CheckFullBWReached. */
  private checkFullBwReached(rs: RateSampler): void {
    if (this.fullBwNow || !this.roundStart || rs.isAppLimited) return;
    if (rs.deliveryRate >= this.fullBw * FULL_BW_GROWTH) {
      this.resetFullBw();
      this.fullBw = rs.deliveryRate;
      return;
    }
    this.fullBwCount++;
    this.fullBwNow = this.fullBwCount >= FULL_BW_ROUNDS;
    if (this.fullBwNow) this.fullBwReached = true;
  }

  /** 5.3.1.1 CheckStartupDone with 5.3.1.3 CheckStartupHighLoss. */
  private checkStartupDone(rs: RateSampler): void {
    if (this.state !== 'startup') return;
    if (
      !this.fullBwReached &&
      this.lossEventsInRound >= STARTUP_FULL_LOSS_COUNT &&
      this.isInflightTooHigh(rs)
    ) {
      this.fullBwReached = true;
      this.inflightLongterm = Math.max(this.bdpMultiple(1), this.inflightLatest);
    }
    if (this.fullBwReached) this.enterDrain();
  }

  private enterDrain(): void {
    this.state = 'drain';
    this.pacingGain = DRAIN_PACING_GAIN;
    this.cwndGain = DEFAULT_CWND_GAIN;
    this.drainStartRound = this.roundCount;
  }

  /** 5.3.2 CheckDrainDone. */
  private checkDrainDone(now: number): void {
    if (
      this.state === 'drain' &&
      (this.inflight <= this.inflightFor(1) || this.roundCount > this.drainStartRound + 3)
    ) {
      this.enterProbeBw(now);
    }
  }

  private enterProbeBw(now: number): void {
    this.cwndGain = DEFAULT_CWND_GAIN;
    this.startProbeBwDown(now);
  }

  private isInProbeBw(): boolean {
    const s = this.state;
    return s === 'probe-bw-down' || s === 'probe-bw-cruise' || s === 'probe-bw-refill' || s === 'probe-bw-up';
  }

  private isProbingBw(): boolean {
    const s = this.state;
    return s === 'startup' || s === 'probe-bw-refill' || s === 'probe-bw-up';
  }

  private startProbeBwDown(now: number): void {
    this.resetCongestionSignals();
    this.probeUpAckedPerInc = Number.POSITIVE_INFINITY;
    this.pickProbeWait();
    this.cycleStamp = now;
    this.ackPhase = AckPhase.ProbeStopping;
    this.startRound();
    this.state = 'probe-bw-down';
    this.pacingGain = 0.9;
    this.cwndGain = DEFAULT_CWND_GAIN;
  }

  private startProbeBwCruise(): void {
    this.state = 'probe-bw-cruise';
    this.pacingGain = 1;
    this.cwndGain = DEFAULT_CWND_GAIN;
  }

  private startProbeBwRefill(): void {
    this.resetShortTermModel();
    this.bwProbeUpRounds = 0;
    this.bwProbeUpAcked = 0;
    this.prevProbePrecautionary = false;
    this.ackPhase = AckPhase.Refilling;
    this.startRound();
    this.state = 'probe-bw-refill';
    this.pacingGain = 1;
    this.cwndGain = DEFAULT_CWND_GAIN;
  }

  private startProbeBwUp(rs: RateSampler): void {
    this.ackPhase = AckPhase.ProbeStarting;
    this.startRound();
    this.resetFullBw();
    this.fullBw = rs.deliveryRate;
    this.state = 'probe-bw-up';
    this.pacingGain = 1.25;
    this.cwndGain = 2.25;
    this.raiseInflightLongtermSlope();
  }

  /** 5.3.3.9 UpdateProbeBWCyclePhase. */
  private updateProbeBwCyclePhase(now: number, rs: RateSampler): void {
    if (!this.fullBwReached) return;
    if (this.adaptLongTermModel(rs)) return;
    switch (this.state) {
      case 'probe-bw-down':
        if (this.isTimeToProbeBw(now)) return;
        if (this.isTimeToCruise()) this.startProbeBwCruise();
        return;
      case 'probe-bw-cruise':
        this.isTimeToProbeBw(now);
        return;
      case 'probe-bw-refill':
        if (this.roundStart) {
          this.isBwProbeSample = true;
          this.startProbeBwUp(rs);
        }
        return;
      case 'probe-bw-up':
        if (this.isTimeToGoDown(rs)) {
          this.prevProbeTooHigh = false;
          this.startProbeBwDown(now);
        }
        return;
      default:
        return;
    }
  }

  /** 5.3.3.9 AdaptLongTermModel; returns whether it decided a transition. */
  private adaptLongTermModel(rs: RateSampler): boolean {
    if (this.ackPhase === AckPhase.ProbeStarting && this.roundStart) this.ackPhase = AckPhase.ProbeFeedback;
    if (this.ackPhase === AckPhase.ProbeStopping && this.roundStart) {
      this.isBwProbeSample = false;
      this.ackPhase = AckPhase.Init;
      if (this.isInProbeBw() && !rs.isAppLimited) this.advanceMaxBwFilter();
      if (this.isInProbeBw() && this.prevProbePrecautionary && !this.prevProbeTooHigh) {
        this.startProbeBwRefill();
        return true;
      }
    }
    if (!this.isInflightTooHigh(rs)) {
      if (this.inflightLongterm === Number.POSITIVE_INFINITY) return false;
      if (rs.txInFlight > this.inflightLongterm) this.inflightLongterm = rs.txInFlight;
      if (this.state === 'probe-bw-up') this.probeInflightLongtermUpward(rs);
    }
    return false;
  }

  /** 5.3.3.8 IsTimeToProbeBW. */
  private isTimeToProbeBw(now: number): boolean {
    if (now > this.cycleStamp + this.bwProbeWait || this.isRenoCoexistenceProbeTime()) {
      this.startProbeBwRefill();
      return true;
    }
    return false;
  }

  private pickProbeWait(): void {
    this.roundsSinceProbeUp = this.random() < 0.5 ? 0 : 1;
    this.bwProbeWait = 2000 + 1000 * this.random();
  }

  private isRenoCoexistenceProbeTime(): boolean {
    const renoRounds = this.targetInflight() / this.mss; // in segments, as the draft counts
    return this.roundsSinceProbeUp >= Math.min(renoRounds, 63);
  }

  private targetInflight(): number {
    return Math.min(this.bdpMultiple(1), this.window);
  }

  private isTimeToCruise(): boolean {
    if (this.inflight > this.inflightWithHeadroom()) return false;
    return this.inflight <= this.inflightFor(1);
  }

  private isTimeToGoDown(rs: RateSampler): boolean {
    if (this.prevProbeTooHigh && this.inflight >= this.inflightLongterm) {
      this.prevProbePrecautionary = true;
      return true;
    }
    if (this.cwndLimited && this.window >= this.inflightLongterm) {
      this.resetFullBw(); // bw is limited by inflight_longterm
      this.fullBw = rs.deliveryRate;
    } else if (this.fullBwNow) {
      return true;
    }
    return false;
  }

  private inflightWithHeadroom(): number {
    if (this.inflightLongterm === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
    const headroom = Math.max(this.mss, HEADROOM * this.inflightLongterm);
    return Math.max(this.inflightLongterm - headroom, this.minPipeCwnd);
  }

  private raiseInflightLongtermSlope(): void {
    const growth = 2 ** this.bwProbeUpRounds;
    this.bwProbeUpRounds = Math.min(this.bwProbeUpRounds + 1, 30);
    this.probeUpAckedPerInc = Math.max(this.window / growth, this.mss);
  }

  private probeInflightLongtermUpward(rs: RateSampler): void {
    if (!this.cwndLimited || this.window < this.inflightLongterm) return;
    this.bwProbeUpAcked += rs.newlyAcked;
    if (this.bwProbeUpAcked >= this.probeUpAckedPerInc) {
      const delta = Math.floor(this.bwProbeUpAcked / this.probeUpAckedPerInc);
      this.bwProbeUpAcked -= delta * this.probeUpAckedPerInc;
      this.inflightLongterm += delta * this.mss;
    }
    if (this.roundStart) this.raiseInflightLongtermSlope();
  }

  /** 5.3.4.3 CheckProbeRTT. */
  private checkProbeRtt(now: number, rs: RateSampler): void {
    if (this.state !== 'probe-rtt' && this.probeRttExpired && !this.idleRestart) {
      this.state = 'probe-rtt';
      this.pacingGain = 1;
      this.cwndGain = PROBE_RTT_CWND_GAIN;
      this.saveCwnd();
      this.probeRttDoneStamp = 0;
      this.ackPhase = AckPhase.ProbeStopping;
      this.startRound();
    }
    if (this.state === 'probe-rtt') this.handleProbeRtt(now, rs);
    if (rs.newlyAcked > 0) this.idleRestart = false;
  }

  private handleProbeRtt(now: number, rs: RateSampler): void {
    rs.markAppLimited(this.inflight); // ignore low rate samples during ProbeRTT
    if (this.probeRttDoneStamp === 0 && this.inflight <= this.probeRttCwnd()) {
      this.probeRttDoneStamp = now + PROBE_RTT_DURATION_MS;
      this.probeRttRoundDone = false;
      this.startRound();
    } else if (this.probeRttDoneStamp !== 0) {
      if (this.roundStart) this.probeRttRoundDone = true;
      if (this.probeRttRoundDone) this.checkProbeRttDone(now);
    }
  }

  private checkProbeRttDone(now: number): void {
    if (this.probeRttDoneStamp !== 0 && now > this.probeRttDoneStamp) {
      this.probeRttMinStamp = now; // schedule the next ProbeRTT
      this.window = Math.max(this.window, this.priorCwnd); // RestoreCwnd
      this.exitProbeRtt(now);
    }
  }

  private exitProbeRtt(now: number): void {
    this.resetShortTermModel();
    if (this.fullBwReached) {
      this.startProbeBwDown(now);
      this.startProbeBwCruise();
    } else {
      this.enterStartup();
    }
  }

  // ------------------------------------------------------------- control parameters (5.6)

  private setPacingRate(gain: number): void {
    const rate = gain * this.bw * (1 - PACING_MARGIN);
    if (rate > 0 && (this.fullBwReached || rate > this.pacingRate)) this.pacingRate = rate;
  }

  private bdpMultiple(gain: number): number {
    if (this.minRtt === Number.POSITIVE_INFINITY) return this.initCwnd;
    return gain * this.bw * this.minRtt;
  }

  /** 5.6.4.2 QuantizationBudget. */
  private quantizationBudget(cap: number): number {
    let c = Math.max(cap, 2 * this.mss, this.minPipeCwnd);
    if (this.state === 'probe-bw-up') c += 2 * this.mss;
    return c;
  }

  /** Inflight(gain) of 5.6.4.2. */
  private inflightFor(gain: number): number {
    return this.quantizationBudget(this.bdpMultiple(gain));
  }

  private probeRttCwnd(): number {
    return Math.max(this.bdpMultiple(PROBE_RTT_CWND_GAIN), this.minPipeCwnd);
  }

  private saveCwnd(): void {
    if (!this.inRecovery && this.state !== 'probe-rtt') this.priorCwnd = this.window;
    else this.priorCwnd = Math.max(this.priorCwnd, this.window);
  }

  /** 5.6.4.6 SetCwnd, with 5.6.4.5 and 5.6.4.7. */
  private setCwnd(rs: RateSampler): void {
    const maxInflight = this.quantizationBudget(this.bdpMultiple(this.cwndGain) + this.extraAckedMax);
    let cwnd = this.window;
    if (this.fullBwReached) cwnd = Math.min(cwnd + rs.newlyAcked, maxInflight);
    else if (cwnd < maxInflight || rs.delivered < this.initCwnd) cwnd += rs.newlyAcked;
    cwnd = Math.max(cwnd, this.minPipeCwnd);
    if (this.state === 'probe-rtt') cwnd = Math.min(cwnd, this.probeRttCwnd());
    // BoundCwndForModel.
    let cap = Number.POSITIVE_INFINITY;
    if (this.isInProbeBw() && this.state !== 'probe-bw-cruise') cap = this.inflightLongterm;
    else if (this.state === 'probe-rtt' || this.state === 'probe-bw-cruise')
      cap = this.inflightWithHeadroom();
    cap = Math.max(Math.min(cap, this.inflightShortterm), this.minPipeCwnd);
    this.window = Math.min(cwnd, cap);
  }

  /** Uniform in [0, 1) from a per-connection xorshift stream (seeded: simulations repeat). */
  private random(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x >>> 0;
    return this.rng / 2 ** 32;
  }
}
