// The CPE's bonding policy for one connection, carried to the HAG in a private-use Convert TLV
// (RFC 8803 10.2: TLV types 192-255 are for private use) inside the Connect message, so that the
// HAG schedules the download the way the home's config schedules the upload. What it carries: the
// scheduler, which of the CPE's subflows are on overflow uplinks, and the congestion control the
// home runs on each uplink, so that the HAG's subflow toward it runs the same (BBR on a lossy radio
// link), each by the CPE's address ID (the MP_JOIN's Address ID, RFC 8684 3.2; 0 for the initial
// subflow). Backup state needs no TLV: the MP_JOIN's B flag and MP_PRIO (RFC 8684 3.3.8) carry
// it, changes during the connection included.
//
//   0               1               2               3
//   | Type = 200    | Length (words)| Version = 1   | Scheduler     |
//   | Count N       | N address IDs on overflow uplinks ...         |
//   | Count M       | M pairs (address ID, congestion control) ...  | zero padding to a word |
//
// The congestion-control list came later within version 1: a HAG that reads only the overflow
// IDs takes the rest for padding (and keeps its own congestion control), and zero padding after
// the overflow IDs of an older CPE reads as M = 0.
import type { PeerCc } from '../mptcp/connection.js';
import type { SchedulerName } from '../mptcp/sched/scheduler.js';
import type { CongestionControlName } from '../tcp/cc/index.js';

/** The TLV type, from the private-use range. */
export const POLICY_TLV = 200;
export const POLICY_VERSION = 1;

/** Scheduler codes on the wire (their order is the wire's, never reorder). */
const SCHEDULER_CODES: readonly SchedulerName[] = ['min-rtt', 'primary-first', 'redundant'];
/** Congestion-control codes on the wire (likewise). */
const CC_CODES: readonly CongestionControlName[] = ['cubic', 'newreno', 'bbr'];

export interface BondingPolicy {
  scheduler: SchedulerName;
  /** The CPE's address IDs whose subflows are on overflow uplinks (primary-first fills them last). */
  overflow: readonly number[];
  /** Per address ID, the congestion control for the HAG's subflow toward it (absent: the HAG's). */
  congestion?: readonly PeerCc[];
}

export type PolicyDecode =
  | { kind: 'ok'; policy: BondingPolicy }
  /** A newer CPE's policy this HAG does not read: the connection goes on with the HAG's default. */
  | { kind: 'ignored'; reason: string }
  | { kind: 'malformed'; reason: string };

/**
 * The TLV's value as the Convert decoder hands out an unknown TLV's value (after Type and Length,
 * padding included). Never throws.
 */
export function decodePolicy(value: Uint8Array): PolicyDecode {
  if (value.length < 3) return { kind: 'malformed', reason: `policy TLV of ${value.length + 2} bytes` };
  if (value[0] !== POLICY_VERSION) return { kind: 'ignored', reason: `policy version ${value[0]}` };
  const scheduler = SCHEDULER_CODES[value[1]];
  if (scheduler === undefined) return { kind: 'ignored', reason: `scheduler code ${value[1]}` };
  const n = value[2];
  if (3 + n > value.length)
    return { kind: 'malformed', reason: `policy lists ${n} IDs in ${value.length - 3} bytes` };
  const overflow: number[] = [];
  for (let i = 0; i < n; i++) overflow.push(value[3 + i]);
  const congestion: PeerCc[] = [];
  const at = 3 + n;
  const m = at < value.length ? value[at] : 0;
  if (m > 0 && at + 1 + 2 * m > value.length)
    return {
      kind: 'malformed',
      reason: `policy lists ${m} congestion controls in ${value.length - at - 1} bytes`,
    };
  for (let i = 0; i < m; i++) {
    const cc = CC_CODES[value[at + 2 + 2 * i]];
    if (cc === undefined)
      return { kind: 'ignored', reason: `congestion control code ${value[at + 2 + 2 * i]}` };
    congestion.push({ id: value[at + 1 + 2 * i], cc });
  }
  return { kind: 'ok', policy: m > 0 ? { scheduler, overflow, congestion } : { scheduler, overflow } };
}

function addressId(id: number): number {
  if (!Number.isInteger(id) || id < 0 || id > 255) throw new RangeError(`address ID ${id}`);
  return id;
}

/** The TLV's value for `encodeConvert` (as an unknown TLV of type POLICY_TLV). */
export function encodePolicy(p: BondingPolicy): Uint8Array {
  const cc = p.congestion ?? [];
  if (p.overflow.length > 250) throw new RangeError(`${p.overflow.length} overflow IDs`);
  if (cc.length > 255) throw new RangeError(`${cc.length} congestion controls`);
  const code = SCHEDULER_CODES.indexOf(p.scheduler);
  if (code < 0) throw new RangeError(`scheduler ${p.scheduler}`);
  const n = p.overflow.length;
  const v = new Uint8Array(3 + n + (cc.length > 0 ? 1 + 2 * cc.length : 0));
  v[0] = POLICY_VERSION;
  v[1] = code;
  v[2] = n;
  for (let i = 0; i < n; i++) v[3 + i] = addressId(p.overflow[i]);
  if (cc.length === 0) return v;
  v[3 + n] = cc.length;
  for (let i = 0; i < cc.length; i++) {
    const c = CC_CODES.indexOf(cc[i].cc);
    if (c < 0) throw new RangeError(`congestion control ${cc[i].cc}`);
    v[4 + n + 2 * i] = addressId(cc[i].id);
    v[5 + n + 2 * i] = c;
  }
  return v;
}
