// The uplink DHCP client's state machine (cpe/dhcp/client.ts) in virtual time with a fake
// transport: retransmission backoff, SELECTING -> REQUESTING with options 50/54 and the broadcast
// flag, BOUND, RENEWING at T1 (unicast, ciaddr, no 50/54), REBINDING at T2 (broadcast), lease loss at
// expiry and on NAK (RFC 2131 4.1, 4.3.2, 4.4).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { applyLeaseCommands, type Clock, DhcpClient, type DhcpLease } from '../../cpe/dhcp/client.js';
import type { ClientTransport } from '../../cpe/dhcp/raw-udp.js';
import {
  BOOTREPLY,
  blank,
  type DhcpMessage,
  emit,
  encode,
  FLAG_BROADCAST,
  MessageType,
  messageType,
  Opt,
  optIp,
  parse,
} from '../../cpe/dhcp/wire.js';

class FakeClock implements Clock {
  t = 1_000_000;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #id = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#id;
    this.#timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== h);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const next = this.#timers[0];
      if (!next || next.at > end) break;
      this.#timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

class FakeTransport implements ClientTransport {
  sent: { msg: DhcpMessage; src: string; dst: string; at: number }[] = [];
  handler: ((b: Buffer) => void) | undefined;
  constructor(private readonly clock: FakeClock) {}
  send(payload: Buffer, src: string, dst: string): void {
    const r = parse(payload);
    if (!r.ok) throw new Error('client sent a malformed message');
    this.sent.push({ msg: r.msg, src, dst, at: this.clock.now() });
  }
  onMessage(fn: (b: Buffer) => void): void {
    this.handler = fn;
  }
  close(): void {}
  reply(to: DhcpMessage, type: MessageType, yiaddr: string, extra: [number, Buffer][] = []): void {
    const m = blank(BOOTREPLY, to.xid, to.chaddr);
    m.yiaddr = yiaddr;
    m.options.set(Opt.MESSAGE_TYPE, encode.u8(type));
    m.options.set(Opt.SERVER_ID, encode.ip('198.18.1.1'));
    if (type !== MessageType.NAK) {
      m.options.set(Opt.LEASE_TIME, encode.u32(100));
      m.options.set(Opt.SUBNET_MASK, encode.ip('255.255.255.0'));
      m.options.set(Opt.ROUTER, encode.ips(['198.18.1.1']));
    }
    for (const [c, v] of extra) m.options.set(c, v);
    this.handler!(emit(m));
  }
  last(): { msg: DhcpMessage; src: string; dst: string; at: number } {
    return this.sent[this.sent.length - 1];
  }
}

function setup() {
  const clock = new FakeClock();
  const transport = new FakeTransport(clock);
  const client = new DhcpClient({
    interface: 'dsl0',
    mac: '02:00:00:00:00:01',
    clock,
    transport,
    jitter: () => 0,
    minRenewRetryMs: 5_000,
    logger: pino({ level: 'silent' }),
  });
  const events: [string, DhcpLease | undefined, string?][] = [];
  client.on('bound', (l) => events.push(['bound', l]));
  client.on('renewed', (l) => events.push(['renewed', l]));
  client.on('lost', (l, r) => events.push(['lost', l, r]));
  return { clock, transport, client, events };
}

function bind(s: ReturnType<typeof setup>): void {
  s.client.start();
  const disc = s.transport.last().msg;
  s.transport.reply(disc, MessageType.OFFER, '198.18.1.50');
  const req = s.transport.last().msg;
  s.transport.reply(req, MessageType.ACK, '198.18.1.50');
}

describe('DHCP client state machine', () => {
  it('retransmits DISCOVER after 4, 8, 16, 32, 64, 64 s (RFC 2131 4.1), broadcast flag set', () => {
    const s = setup();
    s.client.start();
    s.clock.advance(200_000);
    const times = s.transport.sent.map((x) => x.at - 1_000_000);
    expect(times.slice(0, 7)).toEqual([0, 4000, 12000, 28000, 60000, 124000, 188000]);
    for (const x of s.transport.sent) {
      expect(messageType(x.msg)).toBe(MessageType.DISCOVER);
      expect(x.msg.flags & FLAG_BROADCAST).toBe(FLAG_BROADCAST);
      expect([x.src, x.dst]).toEqual(['0.0.0.0', '255.255.255.255']);
    }
    expect(new Set(s.transport.sent.map((x) => x.msg.xid)).size).toBe(1);
  });

  it('REQUEST carries options 50 and 54 from the OFFER; the ACK binds with the lease details', () => {
    const s = setup();
    s.client.start();
    s.transport.reply(s.transport.last().msg, MessageType.OFFER, '198.18.1.50');
    const req = s.transport.last();
    expect(messageType(req.msg)).toBe(MessageType.REQUEST);
    expect(optIp(req.msg, Opt.REQUESTED_IP)).toBe('198.18.1.50');
    expect(optIp(req.msg, Opt.SERVER_ID)).toBe('198.18.1.1');
    expect(req.msg.ciaddr).toBe('0.0.0.0');
    expect(req.dst).toBe('255.255.255.255');
    s.transport.reply(req.msg, MessageType.ACK, '198.18.1.50');
    expect(s.client.state).toBe('bound');
    expect(s.events[0][0]).toBe('bound');
    expect(s.events[0][1]).toMatchObject({
      address: '198.18.1.50',
      prefixLength: 24,
      routers: ['198.18.1.1'],
      t1: 50,
      t2: 87,
    });
  });

  it('ignores replies with another xid or chaddr', () => {
    const s = setup();
    s.client.start();
    const d = s.transport.last().msg;
    s.transport.reply({ ...d, xid: d.xid + 1 }, MessageType.OFFER, '198.18.1.50');
    s.transport.reply({ ...d, chaddr: '02:00:00:00:00:02' }, MessageType.OFFER, '198.18.1.50');
    expect(s.client.state).toBe('selecting');
  });

  it('starts over after unanswered REQUESTs', () => {
    const s = setup();
    s.client.start();
    s.transport.reply(s.transport.last().msg, MessageType.OFFER, '198.18.1.50');
    s.clock.advance(4000 + 8000 + 16000 + 32000);
    expect(s.client.state).toBe('selecting');
    expect(messageType(s.transport.last().msg)).toBe(MessageType.DISCOVER);
  });

  it('renews at T1 by unicast with ciaddr and without 50/54; an ACK renews', () => {
    const s = setup();
    bind(s);
    const n = s.transport.sent.length;
    s.clock.advance(50_000);
    expect(s.client.state).toBe('renewing');
    const r = s.transport.sent[n];
    expect(messageType(r.msg)).toBe(MessageType.REQUEST);
    expect([r.src, r.dst, r.msg.ciaddr]).toEqual(['198.18.1.50', '198.18.1.1', '198.18.1.50']);
    expect(r.msg.options.has(Opt.REQUESTED_IP) || r.msg.options.has(Opt.SERVER_ID)).toBe(false);
    s.transport.reply(r.msg, MessageType.ACK, '198.18.1.50');
    expect(s.events.map((e) => e[0])).toEqual(['bound', 'renewed']);
    expect(s.client.state).toBe('bound');
  });

  it('rebinds at T2 by broadcast, and loses the lease at expiry', () => {
    const s = setup();
    bind(s);
    s.clock.advance(87_000);
    expect(s.client.state).toBe('rebinding');
    const rb = s.transport.last();
    expect([rb.src, rb.dst, rb.msg.ciaddr]).toEqual(['198.18.1.50', '255.255.255.255', '198.18.1.50']);
    // Renewing retransmitted: half the time to T2, at least minRenewRetryMs (RFC 2131 4.4.5).
    const renews = s.transport.sent.filter((x) => x.dst === '198.18.1.1').map((x) => x.at - 1_000_000);
    expect(renews).toEqual([50_000, 68_500, 77_750, 82_750]);
    s.clock.advance(13_000);
    expect(s.events.map((e) => e[0])).toEqual(['bound', 'lost']);
    expect(s.events[1][2]).toBe('lease expired');
    expect(s.client.state).toBe('selecting');
  });

  it('a NAK while renewing loses the lease and starts over', () => {
    const s = setup();
    bind(s);
    s.clock.advance(50_000);
    s.transport.reply(s.transport.last().msg, MessageType.NAK, '0.0.0.0', [
      [Opt.MESSAGE, encode.str('wrong network')],
    ]);
    expect(s.events.map((e) => e[0])).toEqual(['bound', 'lost']);
    expect(s.events[1][2]).toBe('NAK from 198.18.1.1: wrong network');
    expect(messageType(s.transport.last().msg)).toBe(MessageType.DISCOVER);
  });

  it('release sends DHCPRELEASE to the server with ciaddr and option 54', () => {
    const s = setup();
    bind(s);
    s.client.release();
    const r = s.transport.last();
    expect(messageType(r.msg)).toBe(MessageType.RELEASE);
    expect([r.src, r.dst, r.msg.ciaddr]).toEqual(['198.18.1.50', '198.18.1.1', '198.18.1.50']);
    expect(optIp(r.msg, Opt.SERVER_ID)).toBe('198.18.1.1');
    expect(s.client.state).toBe('stopped');
  });
});

describe('applyLeaseCommands', () => {
  const lease = { address: '192.168.1.153', prefixLength: 24, leaseTime: 600 } as DhcpLease;
  it("puts the address on with its lifetime; for the daemon without the main table's subnet route", () => {
    const add = [
      'ip',
      'addr',
      'replace',
      '192.168.1.153/24',
      'dev',
      'dsl0',
      'valid_lft',
      '600',
      'preferred_lft',
      '600',
    ];
    expect(applyLeaseCommands('dsl0', lease)).toEqual([add]);
    // Two uplinks on the same subnet (two boxes of one make) would collide there: cpe/net routes it per uplink.
    expect(applyLeaseCommands('dsl0', lease, undefined, { noPrefixRoute: true })).toEqual([
      [...add, 'noprefixroute'],
    ]);
  });
});
