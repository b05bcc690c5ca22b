// A peer that acknowledges our FIN and then never sends its own (issue 13, hardening), in
// simulation: once both DATA_FINs are through, an MPTCP connection's subflows are orphans (nothing
// reads them), so FIN-WAIT-2 lasts tcp.finTimeoutMs (Linux tcp_fin_timeout) and the connection
// and its socket go without a RST, instead of waiting for the peer for ever.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { Network } from '../../src/sim/index.js';
import { fixTransportChecksum, type Middlebox } from '../../src/sim/middlebox.js';
import { TcpState } from '../../src/tcp/state.js';
import { TCP_FLAG } from '../../src/wire/tcp.js';
import { helloAndClose } from './nodes.js';

describe('FIN-WAIT-2 of an orphaned subflow', () => {
  it('ends silently finTimeoutMs after our FIN was acknowledged when the peer never sends its FIN', () => {
    const a = new MptcpEndpoint();
    const b = new MptcpEndpoint({ tcp: { finTimeoutMs: 20_000 } });
    const net = new Network({ seed: 7 });
    net.addNode('a', a);
    net.addNode('b', b);
    // The client's subflow never sends a FIN: a middlebox clears the flag (checksum fixed), so its
    // segments still carry their ACKs and DATA_ACKs, as from a peer that acknowledges and then hangs.
    const finOfA = {
      hits: 0,
      mb: ((_p, ctx) => {
        const v = ctx.view();
        if (!v?.isTcp || (v.tcp.flags & TCP_FLAG.fin) === 0) return 'deliver';
        finOfA.hits++;
        v.tcp.buf[v.tcp.off + 13] &= ~TCP_FLAG.fin;
        fixTransportChecksum(v);
        return 'deliver';
      }) as Middlebox,
    };
    const l = net.connect('a', 'b', { name: 'l', rate: 100e6, delay: 5, middleboxes: [finOfA.mb] });
    net.route('a', { dst: '198.19.0.0/16', via: l });
    net.route('b', { dst: '198.18.0.0/16', via: l });
    let server: MptcpConnection | undefined;
    let serverClosedAt = -1;
    b.listen(80, (c) => {
      server = c;
      c.events.onReadable = () => c.recv(new Uint8Array(64));
      c.events.onEnd = () => {
        c.close();
        b.wake(c);
      };
      c.events.onClose = () => {
        serverClosedAt = net.now;
      };
    });
    helloAndClose(a, net.now);
    // Both DATA_FINs through, the server's subflow FIN acknowledged: FIN-WAIT-2, the client silent.
    const sf = () => server?.subflows[0]?.socket;
    net.runUntil(() => sf()?.state === TcpState.FinWait2, 5_000);
    expect(sf()?.state).toBe(TcpState.FinWait2);
    expect(finOfA.hits).toBeGreaterThan(0);
    const finWait2At = net.now;
    net.runUntil(() => serverClosedAt >= 0, 120_000);
    // Later FIN-less segments of the client (its FIN retransmissions) do not push the deadline on.
    expect(finOfA.hits).toBeGreaterThan(2);
    expect(serverClosedAt - finWait2At).toBeGreaterThanOrEqual(20_000 - 10);
    expect(serverClosedAt - finWait2At).toBeLessThanOrEqual(20_000);
    expect(server?.error).toBeUndefined();
    expect(b.tcp.connectionCount).toBe(0);
  });
});
