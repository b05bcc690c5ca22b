// The counters of one TCP connection: the socket and its receive side (./receiver.ts) count into one.

/** Counters of one connection. */
export class TcpSocketStats {
  segsIn = 0;
  segsOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  retransSegs = 0;
  retransBytes = 0;
  fastRecoveries = 0;
  lostRetransmits = 0;
  timeouts = 0;
  dupAcksIn = 0;
  oooSegsIn = 0;
  challengeAcks = 0;
  pawsDrops = 0;
  badSegsDropped = 0;
}
