// TCP connection states (RFC 9293 section 3.3.2, figure 5).

export enum TcpState {
  Closed = 'CLOSED',
  Listen = 'LISTEN',
  SynSent = 'SYN-SENT',
  SynReceived = 'SYN-RECEIVED',
  Established = 'ESTABLISHED',
  FinWait1 = 'FIN-WAIT-1',
  FinWait2 = 'FIN-WAIT-2',
  CloseWait = 'CLOSE-WAIT',
  Closing = 'CLOSING',
  LastAck = 'LAST-ACK',
  TimeWait = 'TIME-WAIT',
}

/** States after the handshake in which both sides have synchronized sequence numbers. */
export function isSynchronized(s: TcpState): boolean {
  return s !== TcpState.Closed && s !== TcpState.Listen && s !== TcpState.SynSent;
}
