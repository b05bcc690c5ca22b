// The HAG's inbound port forwarding (hag/inbound.ts) as a state machine, on loopback: a control
// connection (a stand-in stream) registers ranges and gets a status for each (open, not allowed,
// overlapping, too many, in use by another CPE); a client of an open port is announced with a
// ticket that pairs once; a REJECT, the attach timeout and the control's end reset the waiting
// client; the control's end frees its ports; the same CPE (its id) reconnecting replaces its old
// control; a CPE that does not read its control connection is refused. Also the rule table
// (InboundPolicy) alone.
import net from 'node:net';
import { Duplex } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseIp } from '../../hag/addr.js';
import { type InboundConfig, InboundService } from '../../hag/inbound.js';
import { HagMetrics } from '../../hag/metrics.js';
import { InboundPolicy } from '../../hag/policy.js';
import {
  CONTROL_QUEUE_MAX,
  decodeInbound,
  encodeInbound,
  FORWARD_STATUS,
  type InboundMessage,
  REJECT_REASON,
} from '../../src/inbound/index.js';
import type { ConnStream } from '../../src/tcp/stream.js';

/** The control connection's stream as the service sees it: what it writes is decoded into `sent`. */
class FakeStream extends Duplex {
  readonly sent: InboundMessage[] = [];
  override _read(): void {}
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void): void {
    for (let b = c; b.length > 0; ) {
      const d = decodeInbound(b);
      if (d.kind !== 'ok') throw new Error(`the service wrote a bad message: ${d.kind}`);
      this.sent.push(d.message);
      b = b.subarray(d.consumed);
    }
    cb();
  }
  /** A message from the CPE. */
  send(m: InboundMessage): void {
    this.push(encodeInbound(m));
  }
  async waitFor(type: InboundMessage['type'], n = 1): Promise<InboundMessage> {
    for (let i = 0; i < 200; i++) {
      const got = this.sent.filter((m) => m.type === type);
      if (got.length >= n) return got[n - 1];
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no ${type} #${n}: ${JSON.stringify(this.sent.map((m) => m.type))}`);
  }
}

/** A CPE that never reads its control connection: nothing written is ever taken. */
class UnreadStream extends FakeStream {
  override _write(_c: Buffer, _e: BufferEncoding, _cb: () => void): void {}
}

const BASE = 20_000 + Math.floor(Math.random() * 40_000);
const CPE = '198.18.10.2';
const owner = (b: number) => new Uint8Array(16).fill(b);
const services: InboundService[] = [];

function service(over: Partial<InboundConfig> = {}) {
  const refusals: { client: string; reason: string; extra: Record<string, unknown> }[] = [];
  const metrics = new HagMetrics();
  const svc = new InboundService(
    {
      port: 5125,
      listen: ['127.0.0.1'],
      allow: [{ subscribers: ['198.18.10.0/24'], ports: [{ first: BASE, last: BASE + 9 }] }],
      maxPorts: 4,
      attachTimeout: 2000,
      idleTimeout: 10_000,
      ...over,
    },
    {
      log: pino({ level: 'silent' }),
      metrics,
      refuse: (client, reason, extra) => refusals.push({ client, reason, extra }),
    },
  );
  services.push(svc);
  return { svc, refusals, metrics };
}

function control(
  svc: InboundService,
  ranges: { first: number; last: number }[],
  id = 1,
  who = owner(1),
  s = new FakeStream(),
) {
  const ended = svc.control(id, CPE, s as unknown as ConnStream, who, ranges, Buffer.alloc(0));
  return { s, ended };
}

/** A client of public port `port` on loopback; resolves with how it ended. */
function client(port: number): { sock: net.Socket; end: Promise<string> } {
  const sock = net.connect({ host: '127.0.0.1', port });
  const end = new Promise<string>((resolve) => {
    sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    sock.on('close', () => resolve('closed'));
  });
  return { sock, end };
}

afterEach(() => {
  for (const s of services.splice(0)) s.stop();
});

describe('InboundPolicy', () => {
  it('the first rule holding the subscriber decides; a range must lie inside one of its port ranges', () => {
    const p = new InboundPolicy([
      {
        subscribers: ['198.18.10.0/24'],
        ports: [
          { first: 8080, last: 8080 },
          { first: 9000, last: 9009 },
        ],
      },
      { subscribers: ['198.18.0.0/16'], ports: [{ first: 1, last: 65535 }] },
    ]);
    const dsl = parseIp('198.18.10.2')!;
    expect(p.allows(dsl, { first: 8080, last: 8080 })).toBe(true);
    expect(p.allows(dsl, { first: 9000, last: 9009 })).toBe(true);
    expect(p.allows(dsl, { first: 9005, last: 9010 })).toBe(false);
    expect(p.allows(dsl, { first: 22, last: 22 })).toBe(false); // the second rule does not apply
    expect(p.allows(parseIp('198.18.21.1')!, { first: 22, last: 22 })).toBe(true);
    expect(p.allows(parseIp('203.0.113.1')!, { first: 8080, last: 8080 })).toBe(false);
    expect(new InboundPolicy([]).allows(dsl, { first: 8080, last: 8080 })).toBe(false);
  });
});

describe('HAG inbound service', () => {
  it('a status per range: open, not allowed, overlapping, too many; refusals logged with reasons', async () => {
    const { svc, refusals } = service();
    const { s } = control(svc, [
      { first: BASE, last: BASE + 1 },
      { first: BASE + 20, last: BASE + 20 }, // outside the allowed ports
      { first: BASE + 1, last: BASE + 2 }, // overlaps the first
      { first: BASE + 3, last: BASE + 5 }, // 2 + 3 > maxPorts 4
      { first: BASE + 6, last: BASE + 7 },
    ]);
    const r = await s.waitFor('registered');
    expect(r).toEqual({
      type: 'registered',
      status: [
        FORWARD_STATUS.ok,
        FORWARD_STATUS.notAllowed,
        FORWARD_STATUS.invalid,
        FORWARD_STATUS.tooMany,
        FORWARD_STATUS.ok,
      ],
    });
    expect(refusals.map((x) => [x.reason, x.extra.ports])).toEqual([
      ['forward-not-allowed', `${BASE + 20}`],
      ['forward-invalid-range', `${BASE + 1}-${BASE + 2}`],
      ['forward-too-many-ports', `${BASE + 3}-${BASE + 5}`],
    ]);
    expect(svc.counts).toMatchObject({ controls: 1, ports: 4 });
  });

  it('a client is announced with a ticket that pairs once; REJECT and the attach timeout reset', async () => {
    const { svc, metrics } = service({ attachTimeout: 150 });
    const { s } = control(svc, [{ first: BASE, last: BASE + 1 }]);
    await s.waitFor('registered');
    const a = client(BASE + 1);
    const inc = (await s.waitFor('incoming')) as Extract<InboundMessage, { type: 'incoming' }>;
    expect(inc).toMatchObject({ index: 0, port: BASE + 1, peerPort: a.sock.localPort });
    expect([...inc.address]).toEqual([127, 0, 0, 1]);
    const taken = svc.take(inc.ticket);
    expect(taken?.port).toBe(BASE + 1);
    expect(svc.take(inc.ticket)).toBeUndefined(); // one use only
    expect(svc.take(new Uint8Array(16))).toBeUndefined();
    taken?.socket.destroy();
    // REJECT from the CPE (its LAN host refused): the client is reset.
    const b = client(BASE);
    const incB = (await s.waitFor('incoming', 2)) as Extract<InboundMessage, { type: 'incoming' }>;
    s.send({ type: 'reject', ticket: incB.ticket, reason: REJECT_REASON.lanRefused });
    expect(await b.end).toBe('ECONNRESET');
    // Nobody attaches: reset at the timeout.
    const c = client(BASE);
    await s.waitFor('incoming', 3);
    expect(await c.end).toBe('ECONNRESET');
    expect(metrics.inbound.get({ result: 'offered' })).toBe(3);
    expect(metrics.inbound.get({ result: 'paired' })).toBe(1);
    expect(metrics.inbound.get({ result: 'cpe-rejected' })).toBe(1);
    expect(metrics.inbound.get({ result: 'attach-timeout' })).toBe(1);
  });

  it('PING is answered; the control ending resets waiting clients and frees the ports for another CPE', async () => {
    const { svc, refusals } = service();
    const one = control(svc, [{ first: BASE, last: BASE }], 1, owner(1));
    await one.s.waitFor('registered');
    one.s.send({ type: 'ping' });
    await one.s.waitFor('pong');
    // Another CPE instance asks for the same port: in use.
    const two = control(svc, [{ first: BASE, last: BASE }], 2, owner(2));
    expect((await two.s.waitFor('registered')) as unknown).toEqual({
      type: 'registered',
      status: [FORWARD_STATUS.inUse],
    });
    expect(refusals.at(-1)?.reason).toBe('forward-in-use');
    const waiting = client(BASE);
    await one.s.waitFor('incoming');
    one.s.push(null); // the CPE closed its control connection
    expect(await one.ended).toBe('cpe-closed');
    expect(await waiting.end).toBe('ECONNRESET');
    expect(await client(BASE).end).toBe('ECONNREFUSED'); // the port is closed
    const three = control(svc, [{ first: BASE, last: BASE }], 3, owner(3));
    expect(((await three.s.waitFor('registered')) as { status: number[] }).status).toEqual([
      FORWARD_STATUS.ok,
    ]);
  });

  it('a control reset while its ports are being opened: nothing is left listening', async () => {
    const { svc } = service();
    const { s, ended } = control(svc, [{ first: BASE, last: BASE + 3 }]);
    s.destroy(); // before the listeners are up
    expect(await ended).toBe('cpe-closed');
    await new Promise((r) => setTimeout(r, 50));
    expect(svc.counts).toEqual({ controls: 0, ports: 0, pending: 0 });
    expect(await client(BASE + 3).end).toBe('ECONNREFUSED');
  });

  it('the same CPE (its id) reconnecting, from any address, replaces its old control; a stray message ends a control', async () => {
    const { svc, refusals } = service();
    const old = control(svc, [{ first: BASE, last: BASE }], 1, owner(9));
    await old.s.waitFor('registered');
    // The same CPE again, from another address (its LTE line's NAT, say).
    const s2 = new FakeStream();
    const again = {
      s: s2,
      ended: svc.control(
        2,
        '198.18.10.77',
        s2 as unknown as ConnStream,
        owner(9),
        [{ first: BASE, last: BASE }],
        Buffer.alloc(0),
      ),
    };
    expect(await old.ended).toBe('replaced');
    expect(((await again.s.waitFor('registered')) as { status: number[] }).status).toEqual([
      FORWARD_STATUS.ok,
    ]);
    again.s.send({ type: 'attach', ticket: new Uint8Array(16) });
    expect(await again.ended).toBe('malformed-message');
    expect(refusals.at(-1)).toMatchObject({ reason: 'malformed-message' });
    expect(svc.counts).toEqual({ controls: 0, ports: 0, pending: 0 });
  });

  it('a CPE that pings without reading the pongs is refused before its queue passes CONTROL_QUEUE_MAX', async () => {
    const { svc, refusals } = service();
    const stalled = new UnreadStream();
    const { ended } = control(svc, [{ first: BASE, last: BASE }], 1, owner(1), stalled);
    while (svc.counts.ports < 1) await new Promise((r) => setTimeout(r, 5)); // REGISTERED written, never read
    const ping = encodeInbound({ type: 'ping' });
    const pings = Math.ceil(CONTROL_QUEUE_MAX / ping.length) + 10;
    let end = 'still open';
    void ended.then((r) => {
      end = r;
    });
    stalled.push(Buffer.concat(Array.from({ length: pings }, () => ping)));
    // The pings are read and answered in the push's 'data' event; its end is settled a turn later.
    await new Promise((r) => setImmediate(r));
    expect(end).toBe('control-not-read');
    expect(refusals.at(-1)).toMatchObject({ reason: 'control-not-read' });
    expect(stalled.writableLength).toBeLessThanOrEqual(CONTROL_QUEUE_MAX + ping.length + 2);
    expect(svc.counts).toEqual({ controls: 0, ports: 0, pending: 0 });
  });
});
