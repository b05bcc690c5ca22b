// The CPE's bonding policy for one connection, carried to the HAG in a private-use Convert TLV
// (RFC 8803 10.2: TLV types 192-255 are for private use) inside the Connect message, so that the
// HAG schedules the download the way the home's config schedules the upload. What it carries: the
// scheduler and which of the CPE's subflows are on overflow uplinks, by the CPE's address ID (the
// MP_JOIN's Address ID, RFC 8684 3.2; 0 for the initial subflow). Backup state needs no TLV: the
// MP_JOIN's B flag and MP_PRIO (RFC 8684 3.3.8) carry it, changes during the connection included.
//
//   0               1               2               3
//   | Type = 200    | Length (words)| Version = 1   | Scheduler     |
//   | Count N       | N address IDs on overflow uplinks ... | zero padding to a word |
import type { SchedulerName } from '../mptcp/sched/scheduler.js';

/** The TLV type, from the private-use range. */
export const POLICY_TLV = 200;
export const POLICY_VERSION = 1;

/** Scheduler codes on the wire (their order is the wire's, never reorder). */
const SCHEDULER_CODES: readonly SchedulerName[] = ['min-rtt', 'primary-first', 'redundant'];

export interface BondingPolicy {
  scheduler: SchedulerName;
  /** The CPE's address IDs whose subflows are on overflow uplinks (primary-first fills them last). */
  overflow: readonly number[];
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
  return { kind: 'ok', policy: { scheduler, overflow } };
}

/** The TLV's value for `encodeConvert` (as an unknown TLV of type POLICY_TLV). */
export function encodePolicy(p: BondingPolicy): Uint8Array {
  if (p.overflow.length > 250) throw new RangeError(`${p.overflow.length} overflow IDs`);
  const code = SCHEDULER_CODES.indexOf(p.scheduler);
  if (code < 0) throw new RangeError(`scheduler ${p.scheduler}`);
  const v = new Uint8Array(3 + p.overflow.length);
  v[0] = POLICY_VERSION;
  v[1] = code;
  v[2] = p.overflow.length;
  for (let i = 0; i < p.overflow.length; i++) {
    const id = p.overflow[i];
    if (!Number.isInteger(id) || id < 0 || id > 255) throw new RangeError(`address ID ${id}`);
    v[3 + i] = id;
  }
  return v;
}
