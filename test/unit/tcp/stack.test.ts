// The stack around the sockets: listeners, demultiplexing, resets for strays, the bounded SYN
// queue, and whole transfers between two stacks through the Duplex stream API.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../../src/tcp/socket.js';
import { TcpStack } from '../../../src/tcp/stack.js';
import { TcpState } from '../../../src/tcp/state.js';
import { connectStream, listenStreams, TcpStream } from '../../../src/tcp/stream.js';
import { emitPacket, ipReprOf, PacketView } from '../../../src/wire/index.js';
import { A_ADDR, B_ADDR, Pair } from './pair.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function collect(s: TcpStream): { data: Buffer[]; ended: boolean } {
  const r = { data: [] as Buffer[], ended: false };
  s.on('data', (d: Buffer) => r.data.push(d));
  s.on('end', () => {
    r.ended = true;
  });
  return r;
}

describe('TcpStack', () => {
  it('a SYN to a port nobody listens on draws a RST|ACK (RFC 9293 3.10.7.1)', () => {
    const p = new Pair();
    const sock = p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 9 });
    p.run(() => sock.state === TcpState.Closed, 5000);
    expect(sock.state).toBe(TcpState.Closed);
    expect(sock.error?.code).toBe('ECONNREFUSED');
    expect(p.b.mib.OutRsts).toBe(1);
  });

  it('connects to a listener and moves data both ways with half-close, via streams', async () => {
    const p = new Pair({ tcp: { congestionControl: 'newreno' } });
    let server: TcpSocket | undefined;
    p.b.listen({ port: 80, onAccept: (s) => (server = s) });
    const client = p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 80 });
    p.run(() => server !== undefined && client.state === TcpState.Established, 5000);
    expect(server?.state).toBe(TcpState.Established);
    const cs = new TcpStream(p.a, client);
    const ss = new TcpStream(p.b, server!);
    const up = randomBytes(300_000);
    const down = randomBytes(200_000);
    const atServer = collect(ss);
    const atClient = collect(cs);
    cs.end(up);
    await p.runAsync(() => atServer.ended);
    expect(atServer.ended).toBe(true);
    ss.end(down);
    // The active closer's TIME-WAIT is a record in the stack; the socket itself is closed.
    await p.runAsync(() => atClient.ended && p.a.timeWaitStats.records === 1);
    expect(sha(Buffer.concat(atServer.data))).toBe(sha(up));
    expect(sha(Buffer.concat(atClient.data))).toBe(sha(down));
    expect(client.state).toBe(TcpState.Closed);
    expect(client.error).toBeUndefined();
  });

  it('applies backpressure end to end: a reader that stops holds the writer, memory stays bounded', async () => {
    const tcp = { sendBuffer: 64 * 1024, recvBuffer: 64 * 1024, congestionControl: 'newreno' as const };
    const p = new Pair({ tcp });
    let server: TcpSocket | undefined;
    p.b.listen({ port: 80, onAccept: (s) => (server = s) });
    const client = p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 80 });
    p.run(() => server !== undefined && client.state === TcpState.Established, 5000);
    const cs = new TcpStream(p.a, client);
    const ss = new TcpStream(p.b, server!);
    ss.pause();
    const data = randomBytes(2_000_000);
    let accepted = 0;
    for (let off = 0; off < data.length; off += 16384) {
      if (cs.write(data.subarray(off, off + 16384))) accepted++;
    }
    expect(accepted).toBeLessThan(data.length / 16384); // write() said "wait" at some point
    await p.runAsync(() => false, 2000);
    // Nothing grows without bound: the receiver holds at most its buffer, the sender its own.
    expect(server!.readableBytes).toBeLessThanOrEqual(64 * 1024);
    expect(client.sendQueued).toBeLessThanOrEqual(64 * 1024);
    expect(server!.readableBytes + client.sendQueued).toBeLessThan(data.length);
    // The reader resumes: everything arrives, intact.
    const got = collect(ss);
    cs.end();
    ss.resume();
    await p.runAsync(() => got.ended, 60_000);
    expect(sha(Buffer.concat(got.data))).toBe(sha(data));
  });

  it('idle connections give their buffer memory back', () => {
    const p = new Pair();
    const accepted: TcpSocket[] = [];
    p.b.listen({ port: 80, onAccept: (s) => accepted.push(s) });
    const clients = Array.from({ length: 200 }, () =>
      p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 80 }),
    );
    p.run(() => accepted.length === 200, 5000);
    for (const c of clients) {
      c.send(randomBytes(3000));
      p.a.wake(c);
    }
    p.run(() => accepted.every((s) => s.readableBytes === 3000), 5000);
    for (const s of accepted) s.recv(new Uint8Array(3000));
    expect(p.a.bufferMemory + p.b.bufferMemory).toBeGreaterThan(200 * 4096);
    p.run(() => false, 2500); // quiet for longer than the trim delay
    expect(p.a.bufferMemory).toBe(0);
    expect(p.b.bufferMemory).toBe(0);
    expect(accepted.every((s) => s.state === TcpState.Established)).toBe(true);
    // And they still work afterwards.
    clients[0].send(Buffer.from('again'));
    p.a.wake(clients[0]);
    p.run(() => accepted.some((s) => s.readableBytes === 5), 5000);
    expect(accepted.some((s) => s.readableBytes === 5)).toBe(true);
  });

  it('closed connections in TIME-WAIT hold no buffers', () => {
    const p = new Pair();
    const accepted: TcpSocket[] = [];
    p.b.listen({ port: 80, onAccept: (s) => accepted.push(s) });
    const clients = Array.from({ length: 100 }, () =>
      p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 80 }),
    );
    p.run(() => accepted.length === 100, 5000);
    for (const c of clients) {
      c.send(randomBytes(3000));
      c.close();
      p.a.wake(c);
    }
    p.run(() => accepted.every((s) => s.readableBytes === 3000 && s.state === TcpState.CloseWait), 5000);
    for (const s of accepted) {
      s.recv(new Uint8Array(3000));
      s.close();
      p.b.wake(s);
    }
    // Well within the idle-trim delay: what frees the memory is TIME-WAIT itself.
    p.run(() => p.a.timeWaitStats.records === 100, 1000);
    expect(p.a.timeWaitStats.records).toBe(100);
    expect(clients.every((c) => c.state === TcpState.Closed && !c.error)).toBe(true);
    expect(p.a.bufferMemory).toBe(0);
  });

  it('streams: connect and listen helpers; a refused connection is a stream error', async () => {
    const p = new Pair();
    let server: TcpStream | undefined;
    listenStreams(p.b, { port: 7, onConnection: (s) => (server = s) });
    const ok = connectStream(p.a, 0, { local: A_ADDR, remote: B_ADDR, remotePort: 7 });
    let connected = false;
    ok.on('connect', () => (connected = true));
    await p.runAsync(() => connected && server !== undefined, 5000);
    expect(connected).toBe(true);
    const refused = connectStream(p.a, p.now, { local: A_ADDR, remote: B_ADDR, remotePort: 8 });
    let err: (Error & { code?: string }) | undefined;
    refused.on('error', (e) => (err = e));
    await p.runAsync(() => err !== undefined, 5000);
    expect(err?.code).toBe('ECONNREFUSED');
  });

  it('bounds the SYN queue: a flood of SYNs never holds more than the backlog', () => {
    const p = new Pair({ maxHalfOpen: 1000, synCookies: 'never' });
    p.b.listen({ port: 80, backlog: 16, onAccept: () => {} });
    // 200 clients from 20 addresses whose SYN/ACKs are never answered (we drop everything from b).
    p.filter = (from) => from === 'a';
    for (let i = 0; i < 200; i++) {
      const local = Uint8Array.of(198, 18, 1, 1 + (i % 20));
      p.a.connect(0, { local, localPort: 10_000 + i, remote: B_ADDR, remotePort: 80 });
    }
    p.run(() => false, 100);
    expect(p.b.connectionCount).toBe(16);
    expect(p.b.mib.ListenOverflows).toBe(200 - 16);
    expect(p.b.mib.TCPReqQFullDrop).toBe(200 - 16);
  });

  it('demultiplexes many connections on one listening port', () => {
    const p = new Pair();
    const accepted: TcpSocket[] = [];
    p.b.listen({ port: 443, onAccept: (s) => accepted.push(s) });
    const clients = Array.from({ length: 50 }, () =>
      p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 443 }),
    );
    p.run(() => accepted.length === 50, 5000);
    for (const [i, c] of clients.entries()) c.send(Buffer.from(`client ${i}`));
    for (const c of clients) p.a.wake(c);
    p.run(() => accepted.every((s) => s.readableBytes > 0), 5000);
    const got = accepted.map((s) => {
      const b = new Uint8Array(s.readableBytes);
      s.recv(b);
      return `${s.tuple.remotePort}:${Buffer.from(b).toString()}`;
    });
    const want = clients.map((c, i) => `${c.tuple.localPort}:client ${i}`);
    expect(got.sort()).toEqual(want.sort());
  });

  it('keeps its own copy of addresses: a driver may reuse the packet buffer (a Node Buffer)', () => {
    const p = new Pair();
    const accepted: TcpSocket[] = [];
    p.b.listen({ port: 80, onAccept: (s) => accepted.push(s) });
    // Deliver through Node Buffers that are wiped after each input, as the TUN driver's batch is.
    const b = p.b;
    const input = b.input.bind(b);
    b.input = (now, pkt) => {
      const shared = Buffer.from(pkt);
      input(now, shared);
      shared.fill(0);
    };
    p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 80 });
    p.run(() => accepted.length === 1, 5000);
    expect(accepted[0].tuple.remote).toEqual(A_ADDR);
    expect(accepted[0].tuple.local).toEqual(B_ADDR);
  });

  it('drops segments with a bad checksum and counts them', () => {
    const p = new Pair();
    p.b.listen({ port: 80, onAccept: () => {} });
    p.filter = (from, pkt) => {
      if (from === 'a') {
        const v = new PacketView();
        v.wrap(pkt);
        pkt[v.tcp.off + 4] ^= 0xff; // corrupt the sequence number
      }
      return true;
    };
    p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 80 });
    p.run(() => false, 100);
    expect(p.b.mib.InCsumErrors).toBeGreaterThan(0);
    expect(p.b.connectionCount).toBe(0);
  });

  it('takes a segment whose checksum the driver vouches for (TUN DATA_VALID / NEEDS_CSUM) unverified', () => {
    const stack = new TcpStack();
    stack.listen({ port: 80, onAccept: () => {} });
    const syn = new Uint8Array(60);
    const len = emitPacket(
      {
        ip: ipReprOf(A_ADDR, B_ADDR),
        tcp: {
          srcPort: 40000,
          dstPort: 80,
          seq: 1,
          ack: 0,
          flags: 0x02,
          window: 65535,
          urgent: 0,
          options: [],
          payload: new Uint8Array(0),
        },
      },
      syn,
    );
    // A partial checksum, as a locally made CHECKSUM_PARTIAL packet carries: wrong as it stands.
    syn[36] ^= 0x5a;
    const out = new Uint8Array(65536);
    stack.input(0, syn.subarray(0, len));
    expect(stack.mib.InCsumErrors).toBe(1);
    expect(stack.pollTransmit(0, out)).toBe(0);
    stack.input(0, syn.subarray(0, len), true);
    expect(stack.mib.InCsumErrors).toBe(1);
    const n = stack.pollTransmit(0, out);
    const v = new PacketView();
    expect(v.wrap(out.subarray(0, n))).toBeUndefined();
    expect(v.tcp.flags).toBe(0x12); // SYN|ACK
  });

  it('the any-destination listener accepts connections to every address and port (gateway role)', () => {
    const p = new Pair();
    const seen: string[] = [];
    p.b.listen({
      port: 'any',
      onAccept: (s) => seen.push(`${s.tuple.local.join('.')}:${s.tuple.localPort}`),
    });
    const other = Uint8Array.of(198, 19, 7, 7);
    p.a.connect(0, { local: A_ADDR, remote: other, remotePort: 8443 });
    p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 22 });
    p.run(() => seen.length === 2, 5000);
    expect(seen.sort()).toEqual(['198.18.2.1:22', '198.19.7.7:8443']);
  });

  it('a port listener scoped to its addresses leaves that port of other addresses to the any listener', () => {
    const p = new Pair();
    const seen: string[] = [];
    const note = (who: string) => (s: TcpSocket) =>
      seen.push(`${who} ${s.tuple.local.join('.')}:${s.tuple.localPort}`);
    p.b.listen({ port: 5124, addresses: [B_ADDR], onAccept: note('port') });
    p.b.listen({ port: 'any', onAccept: note('any') });
    const other = Uint8Array.of(198, 19, 7, 7);
    p.a.connect(0, { local: A_ADDR, remote: other, remotePort: 5124 });
    p.a.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 5124 });
    p.run(() => seen.length === 2, 5000);
    expect(seen.sort()).toEqual(['any 198.19.7.7:5124', 'port 198.18.2.1:5124']);
  });
});
