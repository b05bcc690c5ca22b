// MPTCP option kind and suboption subtypes (RFC 8684 section 7.2, IANA "MPTCP Option Subtypes").
// Every suboption starts with kind (30), length, and the subtype in the high nibble of byte 2.

export const TCPOPT_MPTCP = 30;

export const MPTCP_SUBTYPE = {
  mpCapable: 0x0,
  mpJoin: 0x1,
  dss: 0x2,
  addAddr: 0x3,
  removeAddr: 0x4,
  mpPrio: 0x5,
  mpFail: 0x6,
  mpFastclose: 0x7,
  mpTcprst: 0x8,
} as const;

/** Writes kind, length and the subtype nibble (with `low` in the low nibble); returns off + 3. */
export function putHead(b: Uint8Array, off: number, len: number, subtype: number, low: number): number {
  b[off] = TCPOPT_MPTCP;
  b[off + 1] = len;
  b[off + 2] = (subtype << 4) | (low & 0x0f);
  return off + 3;
}
