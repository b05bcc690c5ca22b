// The relay both daemons use, between a kernel socket and the core's side, on loopback TCP pairs
// (named as at the HAG: the client's side is the core's, the server's the kernel socket): bytes both
// ways, a FIN carried as a half-close in its direction only, a reset on either side resetting the
// other, the idle timeout, early (0-RTT) bytes first, a side that ended before the relay, backpressure
// (a client that does not read stops the server side from being read, so memory stays bounded), and
// what the core delivers within one tick reaching the kernel socket in one write; whenDone's
// callback (the HAG's, instead of a promise per relay).
import net from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSharedReads } from '../../src/relay/kernel-input.js';
import { endName, relay } from '../../src/relay/relay.js';
import { ConnStream } from '../../src/tcp/stream.js';
import { fakeConn } from './lib/fake-conn.js';

/**
 * A connected pair of loopback sockets: [ours (accepted), peer (connected by `connect`: the relay's
 * kernel socket where that is connectSharedReads)].
 */
async function pair(
  connect: (o: net.TcpNetConnectOpts) => net.Socket = net.connect,
): Promise<[net.Socket, net.Socket]> {
  const srv = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const c = connect({
    port: (srv.address() as net.AddressInfo).port,
    host: '127.0.0.1',
    allowHalfOpen: true,
  });
  await new Promise((r) => c.once('connect', r));
  const s = await accepted;
  srv.close();
  return [s, c];
}

const open: net.Socket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

/** client app ⇄ [clientSide | relay | serverSide] ⇄ server app */
async function setup(opts: { idleMs?: number; early?: Buffer } = {}) {
  const [clientSide, clientApp] = await pair();
  const [serverSide, serverApp] = await pair();
  open.push(clientSide, clientApp, serverSide, serverApp);
  const r = relay(serverSide, clientSide, { early: opts.early, idleMs: opts.idleMs ?? 10_000 });
  return { clientApp, serverApp, clientSide, serverSide, r };
}

function collect(s: net.Socket): { data: () => string; ended: Promise<void> } {
  let d = '';
  s.on('data', (b) => {
    d += b.toString();
  });
  return { data: () => d, ended: new Promise((r) => s.once('end', () => r())) };
}

describe('relay', () => {
  it('carries early bytes first, then both directions', async () => {
    const { clientApp, serverApp } = await setup({ early: Buffer.from('early:') });
    const atServer = collect(serverApp);
    const atClient = collect(clientApp);
    clientApp.write('hello');
    serverApp.write('world');
    // Until as many bytes as expected have come (no fixed sleep: under qemu-user 100 ms was short).
    while (atServer.data().length < 'early:hello'.length || atClient.data().length < 'world'.length)
      await new Promise((r) => setTimeout(r, 5));
    expect(atServer.data()).toBe('early:hello');
    expect(atClient.data()).toBe('world');
  });

  it('a client FIN half-closes toward the server only; the server can still answer', async () => {
    const { clientApp, serverApp, r } = await setup();
    const atServer = collect(serverApp);
    const atClient = collect(clientApp);
    clientApp.end('request');
    await atServer.ended;
    expect(atServer.data()).toBe('request');
    serverApp.end('response after the client FIN');
    await atClient.ended;
    expect(atClient.data()).toBe('response after the client FIN');
    expect(await r.done).toBe('done');
  });

  it('a server FIN half-closes toward the client only', async () => {
    const { clientApp, serverApp, r } = await setup();
    const atServer = collect(serverApp);
    const atClient = collect(clientApp);
    serverApp.end('banner');
    await atClient.ended;
    clientApp.end('late upload');
    await atServer.ended;
    expect(atServer.data()).toBe('late upload');
    expect(await r.done).toBe('done');
  });

  it('a server reset resets the client', async () => {
    const { clientApp, serverApp, r } = await setup();
    const err = new Promise<NodeJS.ErrnoException>((res) => clientApp.once('error', res));
    clientApp.on('close', () => {});
    serverApp.resetAndDestroy();
    expect(await r.done).toBe('kernel-reset');
    expect((await err).code).toBe('ECONNRESET');
  });

  it('a client reset resets the server', async () => {
    const { clientApp, serverApp, r } = await setup();
    const err = new Promise<NodeJS.ErrnoException>((res) => serverApp.once('error', res));
    clientApp.resetAndDestroy();
    expect(await r.done).toBe('core-reset');
    expect((await err).code).toBe('ECONNRESET');
  });

  it('whenDone calls its function once with its context, on a later tick, with no promise made', async () => {
    const { clientApp, serverApp, r } = await setup();
    const calls: [object, string][] = [];
    const ctx = { session: 1 };
    r.whenDone((c, end) => calls.push([c, end]), ctx);
    clientApp.on('error', () => {});
    serverApp.resetAndDestroy();
    while (calls.length === 0) await new Promise((res) => setTimeout(res, 5));
    expect(calls).toEqual([[ctx, 'kernel-reset']]);
    expect((r as unknown as { promise: unknown }).promise).toBeUndefined();
    // Asked after the end: called all the same, not in the same tick.
    const late: string[] = [];
    r.whenDone((_c, end) => late.push(end), null);
    expect(late).toEqual([]);
    await new Promise((res) => setImmediate(res));
    expect(late).toEqual(['kernel-reset']);
    await new Promise((res) => setTimeout(res, 20));
    expect(calls.length).toBe(1);
  });

  it('resets both sides after the idle timeout', async () => {
    const { clientApp, serverApp, r } = await setup({ idleMs: 200 });
    const t0 = Date.now();
    const reset = (s: net.Socket) =>
      new Promise<string | undefined>((res) => s.once('error', (e: NodeJS.ErrnoException) => res(e.code)));
    const errs = Promise.all([reset(clientApp), reset(serverApp)]);
    expect(await r.done).toBe('idle');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(await errs).toEqual(['ECONNRESET', 'ECONNRESET']);
  });

  it('a client that finished before the relay started is half-closed toward the server', async () => {
    const [clientSide, clientApp] = await pair();
    const [serverSide, serverApp] = await pair();
    open.push(clientSide, clientApp, serverSide, serverApp);
    const atServer = collect(serverApp);
    const atClient = collect(clientApp);
    clientApp.end();
    clientSide.resume();
    await new Promise((res) => clientSide.once('end', res));
    const r = relay(serverSide, clientSide, { early: Buffer.from('early'), idleMs: 10_000 });
    await atServer.ended;
    expect(atServer.data()).toBe('early');
    serverApp.end('answer');
    await atClient.ended;
    expect(atClient.data()).toBe('answer');
    expect(await r.done).toBe('done');
  });

  it("names the ends in each daemon's words", () => {
    const cpe = { kernel: 'lan', core: 'upstream' };
    const hag = { kernel: 'server', core: 'client' };
    expect(endName('kernel-reset', cpe)).toBe('lan-reset');
    expect(endName('core-reset', cpe)).toBe('upstream-reset');
    expect(endName('kernel-reset', hag)).toBe('server-reset');
    expect(endName('core-reset', hag)).toBe('client-reset');
    expect(endName('idle', hag)).toBe('idle');
  });

  it('what the core delivers within one tick reaches the kernel socket in one write', async () => {
    const [serverSide, serverApp] = await pair();
    open.push(serverSide, serverApp);
    // The core's side: pushes one chunk per received segment, as the MPTCP connection's stream does
    // while the driver feeds it a batch of packets.
    const core = new Duplex({ allowHalfOpen: true, read() {}, write: (_c, _e, cb) => cb() });
    let writes = 0;
    const write = serverSide._write.bind(serverSide);
    const writev = serverSide._writev?.bind(serverSide);
    serverSide._write = (...a: Parameters<typeof write>) => {
      writes++;
      write(...a);
    };
    if (writev)
      serverSide._writev = (...a: Parameters<typeof writev>) => {
        writes++;
        writev(...a);
      };
    const r = relay(serverSide, core, { idleMs: 10_000 });
    let got = 0;
    serverApp.on('data', (d: Buffer) => {
      got += d.length;
    });
    const N = 40;
    const SEG = 1448;
    for (let i = 0; i < N; i++) core.push(Buffer.alloc(SEG, i));
    while (got < N * SEG) await new Promise((res) => setTimeout(res, 5));
    process.stdout.write(`coalescing: ${N} chunks from the core in ${writes} socket write(s)\n`);
    expect(writes).toBeLessThanOrEqual(2);
    r.stop();
  });

  it('a side whose write mark is above the queue bound still resumes the other', async () => {
    const [serverSide, serverApp] = await pair();
    open.push(serverSide, serverApp);
    // A slow core side with a 1 MB mark: write() says true long after the relay's 64 KB bound.
    let got = 0;
    const core = new Duplex({
      allowHalfOpen: true,
      writableHighWaterMark: 1024 * 1024,
      read() {},
      write(c: Buffer, _e, cb) {
        got += c.length;
        setTimeout(cb, 1);
      },
    });
    const r = relay(serverSide, core, { idleMs: 10_000 });
    const total = 2 * 1024 * 1024;
    serverApp.end(Buffer.alloc(total, 7));
    await new Promise<void>((res) => core.once('finish', () => res()));
    expect(got).toBe(total);
    r.stop();
  }, 20_000);

  it('reads into the shared buffer reach copying core sides whole, through full send buffers', async () => {
    // Two connections at once: each one's reads overwrite the buffer the other's just used.
    const one = async (seed: number) => {
      const [serverApp, kernel] = await pair(connectSharedReads);
      // stop() below resets the relay's kernel socket: this end then reads ECONNRESET, as meant.
      serverApp.on('error', () => {});
      open.push(kernel, serverApp);
      // The core side's send buffer takes at most 3000 bytes at once and nothing every third call;
      // the rest waits in write(), as a ConnStream's does.
      const got: Buffer[] = [];
      let calls = 0;
      const core = Object.assign(
        new Duplex({
          allowHalfOpen: true,
          read() {},
          write(c: Buffer, _e, cb) {
            setTimeout(() => {
              got.push(Buffer.from(c));
              cb();
            }, 1);
          },
        }),
        {
          writeNow(data: Uint8Array, off: number, len: number): number {
            if (core.writableLength > 0 || ++calls % 3 === 0) return 0;
            const n = Math.min(len, 3000);
            got.push(Buffer.from(data.subarray(off, off + n)));
            return n;
          },
        },
      );
      const ended = new Promise<void>((res) => core.once('finish', () => res()));
      const r = relay(kernel, core, { idleMs: 10_000 });
      const sent = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < sent.length; i += 4) sent.writeUInt32BE((i + seed) >>> 0, i);
      serverApp.end(sent);
      await ended;
      r.stop();
      return Buffer.concat(got).equals(sent);
    };
    expect(await Promise.all([one(1), one(0x40000000)])).toEqual([true, true]);
  }, 20_000);

  it('reads into the shared buffer wait for room for a whole read: no read is copied out and queued', async () => {
    const [serverApp, kernel] = await pair(connectSharedReads);
    serverApp.on('error', () => {});
    open.push(kernel, serverApp);
    // A ConnStream-like core side with a 100 KB send buffer that the peer acknowledges 16 KB at a
    // time every millisecond (whenRoom is then asked after each acknowledgment, as ConnStream does).
    const SIZE = 100 * 1024;
    const got: Buffer[] = [];
    let used = 0;
    let queued = 0;
    let waiter: { min: number; cb: () => void } | undefined;
    const core = Object.assign(
      new Duplex({
        allowHalfOpen: true,
        read() {},
        write(c: Buffer, _e, cb) {
          queued++;
          got.push(Buffer.from(c));
          cb();
        },
      }),
      {
        writeNow(data: Uint8Array, off: number, len: number): number {
          const n = Math.min(len, SIZE - used);
          used += n;
          got.push(Buffer.from(data.subarray(off, off + n)));
          return n;
        },
        whenRoom(min: number, cb: () => void) {
          waiter = { min, cb };
        },
      },
    );
    Object.defineProperty(core, 'sendSpace', { get: () => SIZE - used });
    const acks = setInterval(() => {
      used = Math.max(0, used - 16 * 1024);
      if (waiter && SIZE - used >= waiter.min) {
        const w = waiter;
        waiter = undefined;
        w.cb();
      }
    }, 1);
    const ended = new Promise<void>((res) => core.once('finish', () => res()));
    const r = relay(kernel, core, { idleMs: 10_000 });
    const sent = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < sent.length; i += 4) sent.writeUInt32BE(i, i);
    serverApp.end(sent);
    await ended;
    clearInterval(acks);
    r.stop();
    expect(Buffer.concat(got).equals(sent)).toBe(true);
    expect(queued).toBe(0);
  }, 20_000);

  it('a ConnStream with room keeps reading: a header and a body written apart both reach it, no acknowledgment needed', async () => {
    // The HAG's relay paused its server socket after every read until the next DATA_ACK, as if the
    // connection's send buffer were full: ConnStream did not tell its room (sendSpace). A server's
    // HTTP header and body read apart then waited for the ACK of the header; with 0-RTT that came
    // after the connection's 1 s retransmission timeout (lab: 100 KB downloads in 1170 ms).
    const [serverApp, kernel] = await pair(connectSharedReads);
    serverApp.on('error', () => {});
    open.push(kernel, serverApp);
    const conn = fakeConn(4 << 20);
    const core = new ConnStream(conn, () => {});
    const r = relay(kernel, core, { idleMs: 10_000 });
    serverApp.write(Buffer.alloc(204, 1));
    for (let i = 0; i < 100 && conn.sent < 204; i++) await new Promise((res) => setTimeout(res, 10));
    serverApp.write(Buffer.alloc(100_000, 2));
    for (let i = 0; i < 200 && conn.sent < 100_204; i++) await new Promise((res) => setTimeout(res, 10));
    r.stop();
    expect(conn.sent).toBe(100_204);
  });

  it('backpressure: a client that does not read stops the relay from reading the server', async () => {
    const { clientApp, serverApp, serverSide } = await setup();
    clientApp.pause();
    // The server sends 64 MB at once (Node queues what its socket does not take).
    serverApp.write(Buffer.alloc(64 * 1024 * 1024, 1));
    await new Promise((r) => setTimeout(r, 1000));
    // Kernel socket buffers on both hops hold some; the relay itself holds at most its streams'
    // high-water marks. Far less than what the server would send in a second.
    const relayed = serverSide.bytesRead;
    process.stdout.write(`backpressure: relay read ${relayed} of 64 MB while the client did not read\n`);
    expect(relayed).toBeLessThan(32 * 1024 * 1024);
    // Reading resumes the flow.
    let got = 0;
    clientApp.on('data', (d) => {
      got += d.length;
    });
    clientApp.resume();
    while (got === 0) await new Promise((r) => setTimeout(r, 5));
  }, 20_000);
});
