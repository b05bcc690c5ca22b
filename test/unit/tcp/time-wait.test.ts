// TIME-WAIT as a record in the stack (src/tcp/time-wait.ts): the socket and everything it holds
// go when it enters TIME-WAIT; the record still acknowledges a retransmitted FIN (RFC 9293
// 3.10.7.4), keeps the 4-tuple for 2 MSL, and lets a newer SYN reopen it (RFC 6191).
import { describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../../src/tcp/socket.js';
import { TcpState } from '../../../src/tcp/state.js';
import { PacketView } from '../../../src/wire/index.js';
import { TCP_FLAG } from '../../../src/wire/tcp.js';
import { A_ADDR, B_ADDR, Pair } from './pair.js';

/** Opens n connections a -> b:80, sends a little each way, and closes them from a first. */
function closeFromA(p: Pair, n: number): { clients: TcpSocket[]; servers: TcpSocket[]; closedAt: number[] } {
  const servers: TcpSocket[] = [];
  p.b.listen({ port: 80, backlog: n, onAccept: (s) => servers.push(s) });
  const clients = Array.from({ length: n }, () =>
    p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 80 }),
  );
  const closedAt: number[] = [];
  for (const c of clients) c.events.onClose = () => closedAt.push(p.now);
  p.run(() => servers.length === n, 10_000);
  for (const c of clients) {
    c.send(Buffer.from('hello'));
    c.close();
    p.a.wake(c);
  }
  p.run(() => servers.every((s) => s.state === TcpState.CloseWait), 10_000);
  for (const s of servers) {
    s.recv(new Uint8Array(5));
    s.close();
    p.b.wake(s);
  }
  return { clients, servers, closedAt };
}

const isFin = (pkt: Uint8Array) => {
  const v = new PacketView();
  v.wrap(pkt);
  return (v.tcp.flags & TCP_FLAG.fin) !== 0;
};

describe('TIME-WAIT records', () => {
  it('a closed connection leaves no socket and no buffers in TIME-WAIT, only a record of < 1 KB', () => {
    const p = new Pair();
    const { clients, servers, closedAt } = closeFromA(p, 1000);
    p.run(
      () => p.a.timeWaitStats.records === 1000 && servers.every((s) => s.state === TcpState.Closed),
      5000,
    );
    const tw = p.a.timeWaitStats;
    expect(tw.records).toBe(1000);
    expect(tw.bytes / tw.records).toBeLessThanOrEqual(1024);
    // No socket stays in the stack for them, and each told its owner it closed (not 2 MSL later).
    expect(p.a.connectionCount).toBe(0);
    expect(p.a.bufferMemory).toBe(0);
    expect(clients.every((c) => c.state === TcpState.Closed && !c.error)).toBe(true);
    expect(closedAt.length).toBe(1000);
    expect(Math.max(...closedAt)).toBeLessThan(p.a.config.timeWaitMs);
    expect(servers.every((s) => s.state === TcpState.Closed && !s.error)).toBe(true);
    // 2 MSL later the records are gone too.
    p.run(() => p.a.timeWaitStats.records === 0, 70_000);
    expect(p.a.timeWaitStats.records).toBe(0);
    expect(p.a.pollTimeout()).toBe(Number.POSITIVE_INFINITY);
  });

  it('the record acknowledges a retransmitted FIN: the peer in LAST-ACK closes cleanly', () => {
    const p = new Pair();
    // The first ACK of b's FIN is lost: b retransmits its FIN to what is now a record.
    let dropped = false;
    let finsFromB = 0;
    p.filter = (from, pkt) => {
      if (from === 'b' && isFin(pkt)) finsFromB++;
      if (from === 'a' && finsFromB === 1 && !dropped && p.a.timeWaitStats.records === 1) {
        dropped = true;
        return false;
      }
      return true;
    };
    const { servers } = closeFromA(p, 1);
    p.run(() => servers[0].state === TcpState.Closed, 30_000);
    expect(dropped).toBe(true);
    expect(finsFromB).toBe(2);
    expect(servers[0].state).toBe(TcpState.Closed);
    expect(servers[0].error).toBeUndefined();
    expect(p.a.timeWaitStats.records).toBe(1);
  });

  it('holds the 4-tuple: an active open on it is refused, an ephemeral port skips it', () => {
    const p = new Pair();
    const { clients } = closeFromA(p, 1);
    p.run(() => p.a.timeWaitStats.records === 1, 5000);
    const port = clients[0].tuple.localPort;
    expect(() =>
      p.a.connect(p.now, { local: A_ADDR, localPort: port, remote: B_ADDR, remotePort: 80 }),
    ).toThrow(/exists/);
  });

  it('a newer SYN from the peer reopens the 4-tuple of a record (RFC 6191)', () => {
    const p = new Pair();
    // b listens; a connects from a fixed port; b (the server) closes first and keeps TIME-WAIT.
    const accepted: TcpSocket[] = [];
    p.b.listen({ port: 80, onAccept: (s) => accepted.push(s) });
    const first = p.a.connect(0, { local: A_ADDR, localPort: 40_000, remote: B_ADDR, remotePort: 80 });
    p.run(() => accepted.length === 1, 5000);
    accepted[0].close();
    p.b.wake(accepted[0]);
    p.run(() => first.state === TcpState.CloseWait, 5000);
    first.close();
    p.a.wake(first);
    p.run(() => p.b.timeWaitStats.records === 1 && first.state === TcpState.Closed, 5000);
    expect(p.b.timeWaitStats.records).toBe(1);
    p.run(() => false, 10); // the timestamp clock moves on
    const again = p.a.connect(p.now, { local: A_ADDR, localPort: 40_000, remote: B_ADDR, remotePort: 80 });
    p.run(() => again.state === TcpState.Established && accepted.length === 2, 5000);
    expect(again.state).toBe(TcpState.Established);
    expect(accepted.length).toBe(2);
    expect(p.b.timeWaitStats.records).toBe(0);
  });
});
