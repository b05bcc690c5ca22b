// ADD_ADDR and REMOVE_ADDR in simulation (RFC 8684 3.4), after Linux's mptcp_join.sh "signal"
// cases: the HAG announces a second service address with its HMAC, the CPE echoes it and opens a
// subflow to it, data flows over both; the echo dropped, so the ADD_ADDR is sent again; a forged
// HMAC is dropped; REMOVE_ADDR closes the subflow to the withdrawn address and the transfer goes on.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { ServerPathManager } from '../../src/mptcp/pm/server.js';
import { BulkApp, mptcpConn } from '../../src/sim/bulk.js';
import {
  dropMatching,
  fixTransportChecksum,
  hasTcpOption,
  type Middlebox,
  Network,
} from '../../src/sim/index.js';

const DSL = Uint8Array.of(198, 18, 1, 2);
const HAG1 = Uint8Array.of(198, 19, 0, 1);
const HAG2 = Uint8Array.of(198, 19, 0, 2);
const MB = 1_000_000;

function setup(seed: number, up?: Middlebox, down?: Middlebox, bytes = 10 * MB) {
  const net = new Network({ seed });
  const a = new MptcpEndpoint();
  const b = new MptcpEndpoint();
  net.addNode('cpe', a);
  net.addNode('hag', b);
  const l = net.connect('cpe', 'hag', { name: 'dsl', rate: 50e6, delay: 10 });
  if (up) l.ab.addMiddlebox(up);
  if (down) l.ba.addMiddlebox(down);
  const pm = new ClientPathManager(a);
  pm.setAddress(0, { id: 1, addr: DSL, backup: false, up: true });
  const spm = new ServerPathManager(b, { addresses: [{ id: 5, addr: HAG2 }] });
  const s: { conn?: MptcpConnection; app?: BulkApp } = {};
  b.listen(443, (c) => {
    s.conn = c;
    s.app = new BulkApp(mptcpConn(b, c), bytes, 2, () => net.now);
  });
  const conn = pm.connect(0, HAG1, 443)!;
  const app = new BulkApp(mptcpConn(a, conn), bytes, 1, () => net.now);
  return { net, a, b, spm, conn, app, s };
}

const sha = (x: BulkApp, d: 'tx' | 'rx') => (d === 'tx' ? x.txHash : x.rxHash).copy().digest('hex');

describe('ADD_ADDR and REMOVE_ADDR', () => {
  it('the HAG announces a second address; the CPE echoes it and joins it; 10 MB each way intact', () => {
    const { net, a, b, conn, app, s } = setup(61);
    expect(
      net.runUntil(() => conn.subflows.length === 2 && conn.subflows.every((f) => f.canSend), 3000),
    ).toBe(true);
    expect(conn.subflows[1].socket.tuple.remote).toEqual(HAG2);
    expect(conn.subflows[1].remoteId).toBe(5);
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
    expect(b.mib.AddAddrTx).toBe(1);
    expect(a.mib.AddAddr).toBe(1);
    expect(a.mib.EchoAddTx).toBe(1);
    expect(b.mib.EchoAdd).toBe(1);
    expect(a.mib.MPJoinSynTx).toBe(1);
    expect(b.mib.MPJoinAckRx).toBe(1);
    expect(conn.remoteAddrs.get(5)?.addr).toEqual(HAG2);
    // The HAG's subflow to its announced address carries that address's ID.
    expect(s.conn!.subflows.find((f) => f.socket.tuple.local[3] === 2)?.localId).toBe(5);
  });

  it('the echo is lost: the HAG sends the ADD_ADDR again', () => {
    const dropEcho = dropMatching(hasTcpOption(30, 3), { limit: 1 });
    const { net, a, b, conn } = setup(62, dropEcho);
    // The second echo comes back about 1 s in, while the transfer still runs: both subflows up.
    expect(net.runUntil(() => b.mib.EchoAdd === 1, 3000)).toBe(true);
    expect(conn.subflows.length).toBe(2);
    // By 3 s the transfer is over and its subflows have left in TIME-WAIT (records in the
    // stack, no longer the connection's): what is asserted then are counters.
    net.runFor(3000 - net.now);
    expect(dropEcho.hits).toBe(1);
    expect(b.mib.AddAddrTx).toBe(2);
    expect(a.mib.AddAddr).toBe(2);
    expect(b.mib.EchoAdd).toBe(1);
    expect(a.mib.MPJoinSynTx).toBe(1); // announced once as far as the path manager goes
  });

  it('an ADD_ADDR with a forged HMAC is dropped', () => {
    const forge: Middlebox = (p, ctx) => {
      const v = ctx.view();
      if (!v?.isTcp) return 'deliver';
      for (let o = v.tcp.optionsOff; o < v.tcp.optionsOff + v.tcp.optionsLen; ) {
        if (p[o] === 0) break;
        if (p[o] === 1) {
          o++;
          continue;
        }
        if (p[o] === 30 && p[o + 2] >> 4 === 3) p[o + p[o + 1] - 1] ^= 0x40; // last HMAC byte
        o += p[o + 1];
      }
      fixTransportChecksum(v);
      return 'deliver';
    };
    const { net, a, b, conn } = setup(63, undefined, forge, 100 * MB);
    net.runFor(6000);
    expect(b.mib.AddAddrTx).toBe(4); // first try and three more: no echo ever came
    expect(a.mib.AddAddrDrop).toBe(4);
    expect(a.mib.AddAddr).toBe(0);
    expect(conn.subflows.length).toBe(1);
  });

  it('REMOVE_ADDR: the subflow to the withdrawn address closes; the transfer completes on the other', () => {
    const { net, a, conn, app, s } = setup(64);
    expect(
      net.runUntil(() => conn.subflows.length === 2 && conn.subflows.every((f) => f.canSend), 3000),
    ).toBe(true);
    net.runFor(500);
    s.conn!.removeAddress(5);
    expect(net.runUntil(() => conn.subflows.length === 1, 2000)).toBe(true);
    expect(a.mib.RmAddr).toBe(1);
    expect(a.mib.RmSubflow).toBe(1);
    expect(conn.remoteAddrs.has(5)).toBe(false);
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
  });
});
