// Typed parse errors of the wire layer. They are returned as values, never thrown: malformed input
// from the network is an expected event at this edge, and a packet that fails to parse is dropped
// and counted by the caller.

export type WireErrorKind =
  | 'truncated' // the buffer ends before the structure does
  | 'bad-version' // IP version nibble is not the one expected
  | 'bad-header-length' // IPv4 IHL or TCP data offset out of range
  | 'bad-total-length' // IP length field disagrees with the buffer
  | 'bad-option-length' // a TCP option or MPTCP suboption has a length its kind does not allow
  | 'unknown-subtype' // an MPTCP suboption subtype that RFC 8684 does not define
  | 'bad-field'; // a field value the format forbids

export class WireError {
  constructor(
    readonly kind: WireErrorKind,
    readonly detail: string,
  ) {}

  toString(): string {
    return `${this.kind}: ${this.detail}`;
  }
}

export function isWireError(x: unknown): x is WireError {
  return x instanceof WireError;
}
