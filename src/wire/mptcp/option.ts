// The MPTCP option (TCP option kind 30) as a whole: dispatch on the subtype to the suboption
// modules. MptcpOptionView holds one reusable view per suboption so that a receive path can look
// at every option of every packet without allocating.
import { WireError } from '../error.js';
import { type AddAddr, AddAddrView, addAddrFrom, addAddrLen, emitAddAddr } from './add-addr.js';
import { type Dss, DssView, dssFrom, dssLen, emitDss } from './dss.js';
import { emitMpCapable, type MpCapable, MpCapableView, mpCapableFrom, mpCapableLen } from './mp-capable.js';
import { emitMpFail, MP_FAIL_LEN, type MpFail, MpFailView, mpFailFrom } from './mp-fail.js';
import {
  emitMpFastclose,
  MP_FASTCLOSE_LEN,
  type MpFastclose,
  MpFastcloseView,
  mpFastcloseFrom,
} from './mp-fastclose.js';
import { emitMpJoin, type MpJoin, MpJoinView, mpJoinFrom, mpJoinLen } from './mp-join.js';
import { emitMpPrio, type MpPrio, MpPrioView, mpPrioFrom, mpPrioLen } from './mp-prio.js';
import { emitMpTcprst, MP_TCPRST_LEN, type MpTcprst, MpTcprstView, mpTcprstFrom } from './mp-tcprst.js';
import {
  emitRemoveAddr,
  type RemoveAddr,
  RemoveAddrView,
  removeAddrFrom,
  removeAddrLen,
} from './remove-addr.js';
import { MPTCP_SUBTYPE } from './subtype.js';

export type MptcpOption =
  | MpCapable
  | MpJoin
  | Dss
  | AddAddr
  | RemoveAddr
  | MpPrio
  | MpFail
  | MpFastclose
  | MpTcprst;

export class MptcpOptionView {
  readonly mpCapable = new MpCapableView();
  readonly mpJoin = new MpJoinView();
  readonly dss = new DssView();
  readonly addAddr = new AddAddrView();
  readonly removeAddr = new RemoveAddrView();
  readonly mpPrio = new MpPrioView();
  readonly mpFail = new MpFailView();
  readonly mpFastclose = new MpFastcloseView();
  readonly mpTcprst = new MpTcprstView();
  subtype = -1;

  /**
   * Looks at the option whose kind byte is at b[o] and whose length field is n (the caller has
   * checked that n bytes are there). Sets `subtype` and the matching view, or returns an error for
   * an option too short to hold a subtype, an unknown subtype, or a length the subtype forbids.
   */
  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    this.subtype = -1;
    if (n < 3) return new WireError('bad-option-length', `MPTCP option length ${n} has no subtype`);
    const st = b[o + 2] >> 4;
    let err: WireError | undefined;
    switch (st) {
      case MPTCP_SUBTYPE.mpCapable:
        err = this.mpCapable.wrap(b, o, n);
        break;
      case MPTCP_SUBTYPE.mpJoin:
        err = this.mpJoin.wrap(b, o, n);
        break;
      case MPTCP_SUBTYPE.dss:
        err = this.dss.wrap(b, o, n);
        break;
      case MPTCP_SUBTYPE.addAddr:
        err = this.addAddr.wrap(b, o, n);
        break;
      case MPTCP_SUBTYPE.removeAddr:
        err = this.removeAddr.wrap(b, o, n);
        break;
      case MPTCP_SUBTYPE.mpPrio:
        err = this.mpPrio.wrap(b, o, n);
        break;
      case MPTCP_SUBTYPE.mpFail:
        err = this.mpFail.wrap(b, o, n);
        break;
      case MPTCP_SUBTYPE.mpFastclose:
        err = this.mpFastclose.wrap(b, o, n);
        break;
      case MPTCP_SUBTYPE.mpTcprst:
        err = this.mpTcprst.wrap(b, o, n);
        break;
      default:
        return new WireError('unknown-subtype', `MPTCP subtype 0x${st.toString(16)}`);
    }
    if (err) return err;
    this.subtype = st;
    return undefined;
  }

  /** The plain-object form of the wrapped option (copies what it keeps). */
  toRepr(): MptcpOption {
    switch (this.subtype) {
      case MPTCP_SUBTYPE.mpCapable:
        return mpCapableFrom(this.mpCapable);
      case MPTCP_SUBTYPE.mpJoin:
        return mpJoinFrom(this.mpJoin);
      case MPTCP_SUBTYPE.dss:
        return dssFrom(this.dss);
      case MPTCP_SUBTYPE.addAddr:
        return addAddrFrom(this.addAddr);
      case MPTCP_SUBTYPE.removeAddr:
        return removeAddrFrom(this.removeAddr);
      case MPTCP_SUBTYPE.mpPrio:
        return mpPrioFrom(this.mpPrio);
      case MPTCP_SUBTYPE.mpFail:
        return mpFailFrom(this.mpFail);
      case MPTCP_SUBTYPE.mpFastclose:
        return mpFastcloseFrom(this.mpFastclose);
      case MPTCP_SUBTYPE.mpTcprst:
        return mpTcprstFrom(this.mpTcprst);
      default:
        throw new Error('MptcpOptionView.toRepr called without a successful wrap');
    }
  }
}

/** Parses the MPTCP option at b[o] with length field n into its plain-object form. */
export function parseMptcpOption(b: Uint8Array, o: number, n: number): MptcpOption | WireError {
  if (o + n > b.length) return new WireError('truncated', `MPTCP option of ${n} bytes past the end`);
  const v = new MptcpOptionView();
  return v.wrap(b, o, n) ?? v.toRepr();
}

export function mptcpOptionLen(r: MptcpOption): number {
  switch (r.type) {
    case 'mp_capable':
      return mpCapableLen(r);
    case 'mp_join':
      return mpJoinLen(r);
    case 'dss':
      return dssLen(r);
    case 'add_addr':
      return addAddrLen(r);
    case 'remove_addr':
      return removeAddrLen(r);
    case 'mp_prio':
      return mpPrioLen(r);
    case 'mp_fail':
      return MP_FAIL_LEN;
    case 'mp_fastclose':
      return MP_FASTCLOSE_LEN;
    case 'mp_tcprst':
      return MP_TCPRST_LEN;
  }
}

/** Writes the option (kind byte first) at b[off] and returns its length. */
export function emitMptcpOption(r: MptcpOption, b: Uint8Array, off: number): number {
  switch (r.type) {
    case 'mp_capable':
      return emitMpCapable(r, b, off);
    case 'mp_join':
      return emitMpJoin(r, b, off);
    case 'dss':
      return emitDss(r, b, off);
    case 'add_addr':
      return emitAddAddr(r, b, off);
    case 'remove_addr':
      return emitRemoveAddr(r, b, off);
    case 'mp_prio':
      return emitMpPrio(r, b, off);
    case 'mp_fail':
      return emitMpFail(r, b, off);
    case 'mp_fastclose':
      return emitMpFastclose(r, b, off);
    case 'mp_tcprst':
      return emitMpTcprst(r, b, off);
  }
}
