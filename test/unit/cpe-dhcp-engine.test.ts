// The LAN DHCP server's protocol engine and lease table (cpe/dhcp/engine.ts, leases.ts,
// lease-file.ts): DISCOVER/OFFER/REQUEST/ACK with options 50 and 54, the NAK cases, RELEASE,
// DECLINE quarantine, INFORM, expiry, and the lease file across a restart, all in virtual time.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { DhcpEngine, type DhcpServerConfig } from '../../cpe/dhcp/engine.js';
import { loadLeases, saveLeases } from '../../cpe/dhcp/lease-file.js';
import {
  BOOTREQUEST,
  blank,
  type DhcpMessage,
  emit,
  encode,
  FLAG_BROADCAST,
  MessageType,
  messageType,
  Opt,
  optIp,
  optIps,
  optString,
  optU32,
  parse,
} from '../../cpe/dhcp/wire.js';

const CFG: DhcpServerConfig = {
  subnet: '198.18.5.0/24',
  serverId: '198.18.5.1',
  ranges: [{ start: '198.18.5.10', end: '198.18.5.12' }],
  statics: [{ mac: '02:00:00:00:00:99', address: '198.18.5.50' }],
  leaseTime: 600,
  offerHold: 30,
  declineQuarantine: 300,
  dns: ['198.18.5.1', '198.18.9.9'],
  domain: 'lan',
};
const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const S = '02:00:00:00:00:99';
const T0 = 1_700_000_000_000;

function msg(
  type: MessageType,
  mac: string,
  o: { req?: string; sid?: string; ciaddr?: string } = {},
): DhcpMessage {
  const m = blank(BOOTREQUEST, 0x1000 + type, mac);
  m.flags = FLAG_BROADCAST;
  m.options.set(Opt.MESSAGE_TYPE, encode.u8(type));
  if (o.req) m.options.set(Opt.REQUESTED_IP, encode.ip(o.req));
  if (o.sid) m.options.set(Opt.SERVER_ID, encode.ip(o.sid));
  if (o.ciaddr) m.ciaddr = o.ciaddr;
  // Through the wire, as the server sees it.
  const r = parse(emit(m));
  if (!r.ok) throw new Error('test message does not parse');
  return r.msg;
}

/** DISCOVER then REQUEST (SELECTING): returns the bound address. */
function lease(e: DhcpEngine, mac: string, now: number): string {
  const off = e.handle(msg(MessageType.DISCOVER, mac), now);
  expect(off.event).toBe('offer');
  const ack = e.handle(msg(MessageType.REQUEST, mac, { req: off.address, sid: CFG.serverId }), now);
  expect(ack.event).toBe('ack');
  return ack.address!;
}

describe('DHCP engine: DISCOVER / OFFER / REQUEST / ACK (RFC 2131 4.3.1, 4.3.2)', () => {
  it('offers the first free address with the configured options, then ACKs it', () => {
    const e = new DhcpEngine(CFG);
    const off = e.handle(msg(MessageType.DISCOVER, A), T0);
    expect(off.event).toBe('offer');
    const r = off.reply!;
    expect(messageType(r.msg)).toBe(MessageType.OFFER);
    expect(r.msg.yiaddr).toBe('198.18.5.10');
    expect(r.to).toBe('255.255.255.255');
    expect(optIp(r.msg, Opt.SERVER_ID)).toBe('198.18.5.1');
    expect(optIp(r.msg, Opt.SUBNET_MASK)).toBe('255.255.255.0');
    expect(optIps(r.msg, Opt.ROUTER)).toEqual(['198.18.5.1']);
    expect(optIps(r.msg, Opt.DNS)).toEqual(['198.18.5.1', '198.18.9.9']);
    expect(optString(r.msg, Opt.DOMAIN_NAME)).toBe('lan');
    expect(optU32(r.msg, Opt.LEASE_TIME)).toBe(600);
    expect(optU32(r.msg, Opt.T1)).toBe(300);
    expect(optU32(r.msg, Opt.T2)).toBe(525);
    expect(e.leases.get('198.18.5.10')?.state).toBe('offered');
    const ack = e.handle(msg(MessageType.REQUEST, A, { req: '198.18.5.10', sid: CFG.serverId }), T0 + 10);
    expect(ack.event).toBe('ack');
    expect(messageType(ack.reply!.msg)).toBe(MessageType.ACK);
    expect(e.leases.get('198.18.5.10')).toMatchObject({
      mac: A,
      state: 'bound',
      expiresAt: T0 + 10 + 600_000,
    });
  });

  it('a second client gets another address; a held offer is not given to anyone else', () => {
    const e = new DhcpEngine(CFG);
    expect(e.handle(msg(MessageType.DISCOVER, A), T0).address).toBe('198.18.5.10');
    expect(e.handle(msg(MessageType.DISCOVER, B), T0).address).toBe('198.18.5.11');
  });

  it('honours option 50 in DISCOVER when the address is free', () => {
    const e = new DhcpEngine(CFG);
    expect(e.handle(msg(MessageType.DISCOVER, A, { req: '198.18.5.12' }), T0).address).toBe('198.18.5.12');
  });

  it('gives a static lease to its MAC only', () => {
    const e = new DhcpEngine(CFG);
    expect(lease(e, S, T0)).toBe('198.18.5.50');
    const other = e.handle(msg(MessageType.REQUEST, A, { req: '198.18.5.50' }), T0);
    expect(other.event).toBe('nak');
    expect(other.reason).toMatch(/leased to|reserved/);
  });

  it('stays silent and says why when the pool is exhausted', () => {
    const e = new DhcpEngine(CFG);
    for (const m of ['02:00:00:00:01:01', '02:00:00:00:01:02', '02:00:00:00:01:03']) lease(e, m, T0);
    const out = e.handle(msg(MessageType.DISCOVER, B), T0);
    expect(out).toMatchObject({ event: 'ignored', reason: 'no free address in the ranges' });
    expect(out.reply).toBeUndefined();
  });

  it('renews (ciaddr, unicast reply) and extends the lease (RFC 2131 4.3.2 RENEWING)', () => {
    const e = new DhcpEngine(CFG);
    const ip = lease(e, A, T0);
    const out = e.handle(msg(MessageType.REQUEST, A, { ciaddr: ip }), T0 + 300_000);
    expect(out.event).toBe('ack');
    expect(out.reply!.to).toBe(ip);
    expect(out.reply!.msg.ciaddr).toBe(ip);
    expect(e.leases.get(ip)?.expiresAt).toBe(T0 + 300_000 + 600_000);
  });

  it('INIT-REBOOT with its own address gets an ACK', () => {
    const e = new DhcpEngine(CFG);
    const ip = lease(e, A, T0);
    expect(e.handle(msg(MessageType.REQUEST, A, { req: ip }), T0 + 1000).event).toBe('ack');
  });
});

describe('DHCP engine: NAK cases (RFC 2131 4.3.2)', () => {
  it('requested address on another subnet', () => {
    const e = new DhcpEngine(CFG);
    const out = e.handle(msg(MessageType.REQUEST, A, { req: '198.19.0.5' }), T0);
    expect(out.event).toBe('nak');
    expect(out.reason).toBe('198.19.0.5 is not on this network');
    expect(messageType(out.reply!.msg)).toBe(MessageType.NAK);
    expect(out.reply!.to).toBe('255.255.255.255');
    expect(out.reply!.msg.yiaddr).toBe('0.0.0.0');
    expect(optIp(out.reply!.msg, Opt.SERVER_ID)).toBe(CFG.serverId);
  });

  it('address leased to another MAC (INIT-REBOOT and RENEWING)', () => {
    const e = new DhcpEngine(CFG);
    const ip = lease(e, A, T0);
    const r1 = e.handle(msg(MessageType.REQUEST, B, { req: ip }), T0);
    expect(r1).toMatchObject({ event: 'nak', reason: `${ip} is leased to ${A}` });
    const r2 = e.handle(msg(MessageType.REQUEST, B, { ciaddr: ip }), T0);
    expect(r2).toMatchObject({ event: 'nak', reason: `${ip} is leased to ${A}` });
  });

  it('unknown server id: NAK when authoritative and the offer is withdrawn; silence when not', () => {
    const e = new DhcpEngine(CFG);
    const off = e.handle(msg(MessageType.DISCOVER, A), T0);
    const out = e.handle(msg(MessageType.REQUEST, A, { req: off.address, sid: '198.18.5.2' }), T0);
    expect(out).toMatchObject({ event: 'nak', reason: 'unknown server id 198.18.5.2', changed: true });
    expect(e.leases.get(off.address!)?.state).toBe('released');
    const quiet = new DhcpEngine({ ...CFG, authoritative: false });
    const off2 = quiet.handle(msg(MessageType.DISCOVER, A), T0);
    const out2 = quiet.handle(msg(MessageType.REQUEST, A, { req: off2.address, sid: '198.18.5.2' }), T0);
    expect(out2.event).toBe('ignored');
    expect(out2.reply).toBeUndefined();
  });

  it('the network, broadcast and server addresses, and addresses outside the ranges', () => {
    const e = new DhcpEngine(CFG);
    for (const ip of ['198.18.5.0', '198.18.5.255', '198.18.5.1', '198.18.5.100']) {
      expect(e.handle(msg(MessageType.REQUEST, A, { req: ip }), T0).event).toBe('nak');
    }
  });

  it('a client with a static lease asking for another address', () => {
    const e = new DhcpEngine(CFG);
    const out = e.handle(msg(MessageType.REQUEST, S, { req: '198.18.5.10' }), T0);
    expect(out.reason).toBe(`198.18.5.10 requested, but ${S} has the reserved address 198.18.5.50`);
  });

  it('a REQUEST naming no address', () => {
    const e = new DhcpEngine(CFG);
    expect(e.handle(msg(MessageType.REQUEST, A), T0).event).toBe('nak');
  });
});

describe('DHCP engine: RELEASE, DECLINE, INFORM, expiry (RFC 2131 4.3.3-4.3.5, 4.4.5)', () => {
  it('RELEASE frees the address, and the client gets the same one back', () => {
    const e = new DhcpEngine(CFG);
    const ip = lease(e, A, T0);
    const out = e.handle(msg(MessageType.RELEASE, A, { ciaddr: ip, sid: CFG.serverId }), T0 + 5);
    expect(out.event).toBe('release');
    expect(e.leases.get(ip)?.state).toBe('released');
    expect(e.handle(msg(MessageType.DISCOVER, A), T0 + 10).address).toBe(ip);
  });

  it("RELEASE of somebody else's address is ignored", () => {
    const e = new DhcpEngine(CFG);
    const ip = lease(e, A, T0);
    const out = e.handle(msg(MessageType.RELEASE, B, { ciaddr: ip }), T0);
    expect(out.event).toBe('ignored');
    expect(e.leases.get(ip)?.state).toBe('bound');
  });

  it('DECLINE quarantines the address for declineQuarantine, then it returns to the pool', () => {
    const e = new DhcpEngine(CFG);
    const ip = lease(e, A, T0);
    const out = e.handle(msg(MessageType.DECLINE, A, { req: ip, sid: CFG.serverId }), T0 + 1);
    expect(out.event).toBe('decline');
    expect(e.leases.get(ip)).toMatchObject({ state: 'declined', mac: null });
    // The client starts over and gets a different address; nobody gets the declined one.
    expect(e.handle(msg(MessageType.DISCOVER, A), T0 + 2).address).not.toBe(ip);
    expect(e.handle(msg(MessageType.REQUEST, B, { req: ip }), T0 + 3).reason).toBe(
      `${ip} is quarantined after a DECLINE`,
    );
    expect(e.leases.expire(T0 + 1 + 300_000).map((l) => l.address)).toContain(ip);
    expect(e.leases.availableFor(ip, B, T0 + 1 + 300_000).ok).toBe(true);
  });

  it('DECLINE from a client that does not hold the address is ignored', () => {
    const e = new DhcpEngine(CFG);
    const ip = lease(e, A, T0);
    expect(e.handle(msg(MessageType.DECLINE, B, { req: ip, sid: CFG.serverId }), T0).event).toBe('ignored');
    expect(e.leases.get(ip)?.state).toBe('bound');
  });

  it('INFORM gets an ACK with options but no address or lease time, unicast to ciaddr', () => {
    const e = new DhcpEngine(CFG);
    const out = e.handle(msg(MessageType.INFORM, A, { ciaddr: '198.18.5.77' }), T0);
    expect(out.event).toBe('inform');
    expect(out.reply!.to).toBe('198.18.5.77');
    expect(out.reply!.msg.yiaddr).toBe('0.0.0.0');
    expect(optU32(out.reply!.msg, Opt.LEASE_TIME)).toBeUndefined();
    expect(optIps(out.reply!.msg, Opt.DNS)).toEqual(CFG.dns);
  });

  it('bindings and offers expire; an expired address goes to another client', () => {
    const e = new DhcpEngine(CFG);
    const ip = lease(e, A, T0);
    expect(e.leases.nextExpiry()).toBe(T0 + 600_000);
    expect(e.leases.expire(T0 + 599_999)).toEqual([]);
    expect(e.leases.expire(T0 + 600_000).map((l) => l.state)).toEqual(['expired']);
    // Others (the rest of the pool taken) now get the expired address.
    lease(e, '02:00:00:00:01:01', T0 + 600_001);
    lease(e, '02:00:00:00:01:02', T0 + 600_001);
    expect(lease(e, B, T0 + 600_001)).toBe(ip);
    // An offer nobody requests is gone after offerHold.
    const e2 = new DhcpEngine(CFG);
    const off = e2.handle(msg(MessageType.DISCOVER, A), T0);
    e2.leases.expire(T0 + 30_000);
    expect(e2.leases.availableFor(off.address!, B, T0 + 30_000).ok).toBe(true);
  });

  it('ignores relayed messages and replies from servers, with reasons', () => {
    const e = new DhcpEngine(CFG);
    const m = msg(MessageType.DISCOVER, A);
    m.giaddr = '198.18.7.1';
    expect(e.handle(m, T0).reason).toMatch(/relay/);
    const r = msg(MessageType.DISCOVER, A);
    r.op = 2;
    expect(e.handle(r, T0).reason).toBe('not a BOOTREQUEST');
  });

  it('rejects bad configuration with a clear error', () => {
    expect(() => new DhcpEngine({ ...CFG, ranges: [{ start: '198.18.6.1', end: '198.18.6.9' }] })).toThrow(
      /outside/,
    );
    expect(
      () =>
        new DhcpEngine({
          ...CFG,
          ranges: [
            { start: '198.18.5.10', end: '198.18.5.20' },
            { start: '198.18.5.20', end: '198.18.5.30' },
          ],
        }),
    ).toThrow(/overlap/);
  });
});

describe('DHCP lease file (atomic, survives a restart)', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('a restarted engine keeps the lease: same address for the same MAC, not for another', () => {
    dir = mkdtempSync(join(tmpdir(), 'cpe-dhcp-'));
    const file = join(dir, 'leases.json');
    const e1 = new DhcpEngine(CFG);
    lease(e1, B, T0); // .10 to B
    const ip = lease(e1, A, T0); // .11 to A
    saveLeases(file, e1.leases.snapshot());
    expect(readdirSync(dir)).toEqual(['leases.json']); // no temporary file left
    const loaded = loadLeases(file);
    expect(loaded.ok).toBe(true);
    if (!loaded.ok) return;
    const e2 = new DhcpEngine(CFG);
    expect(e2.leases.restore(loaded.leases)).toEqual([]);
    const off = e2.handle(msg(MessageType.DISCOVER, A), T0 + 1000);
    expect(off.address).toBe(ip);
    expect(e2.handle(msg(MessageType.REQUEST, '02:00:00:00:00:0c', { req: ip }), T0 + 1000).event).toBe(
      'nak',
    );
  });

  it('load: a missing file is empty; broken ones are errors, not exceptions', () => {
    dir = mkdtempSync(join(tmpdir(), 'cpe-dhcp-'));
    const file = join(dir, 'leases.json');
    expect(loadLeases(file)).toEqual({ ok: true, leases: [] });
    writeFileSync(file, '{"version":1,"leases":[');
    expect(loadLeases(file).ok).toBe(false);
    writeFileSync(
      file,
      JSON.stringify({ version: 1, leases: [{ address: '1.2.3', mac: null, state: 'bound', expiresAt: 1 }] }),
    );
    const r = loadLeases(file);
    expect(r.ok === false && r.error).toMatch(/lease 0 is malformed/);
    writeFileSync(file, JSON.stringify({ version: 2, leases: [] }));
    expect(loadLeases(file).ok).toBe(false);
    saveLeases(file, []);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, leases: [] });
  });
});

describe('DHCP engine robustness', () => {
  it('any parseable message, in any order and time, gets an outcome and never an exception (property)', () => {
    const ip = fc.constantFrom(
      '0.0.0.0',
      '198.18.5.1',
      '198.18.5.10',
      '198.18.5.11',
      '198.18.5.50',
      '198.18.6.1',
      '198.18.5.255',
    );
    const mac = fc.constantFrom(A, B, S, '02:00:00:00:00:0c');
    const step = fc.record({
      type: fc.integer({ min: 1, max: 8 }),
      mac,
      req: fc.option(ip, { nil: undefined }),
      sid: fc.option(ip, { nil: undefined }),
      ciaddr: fc.option(ip, { nil: undefined }),
      dt: fc.integer({ min: 0, max: 900_000 }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const e = new DhcpEngine(CFG);
        let now = T0;
        for (const s of steps) {
          now += s.dt;
          const out = e.handle(
            msg(s.type as MessageType, s.mac, { req: s.req, sid: s.sid, ciaddr: s.ciaddr }),
            now,
          );
          expect(out.event).toBeDefined();
          if (out.event === 'nak' || out.event === 'ignored') expect(out.reason).toBeTruthy();
          if (out.reply) expect(parse(emit(out.reply.msg)).ok).toBe(true);
          // Invariant: no address is bound to two clients, and nothing outside the pool is bound.
          const bound = e.leases.all().filter((l) => l.state === 'bound' && l.expiresAt > now);
          expect(new Set(bound.map((l) => l.mac)).size).toBe(bound.length);
          for (const l of bound)
            expect(['198.18.5.10', '198.18.5.11', '198.18.5.12', '198.18.5.50']).toContain(l.address);
        }
      }),
      { numRuns: 300 },
    );
  });
});
