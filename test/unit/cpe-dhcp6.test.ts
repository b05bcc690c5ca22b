import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseCpeConfig } from '../../cpe/daemon/config.js';
import { Uplinks } from '../../cpe/daemon/uplinks.js';
import type { Clock } from '../../cpe/dhcp/client.js';
import { Dhcp6Client, type Dhcp6Lease } from '../../cpe/dhcp6/client.js';
import { type Dhcp6Transport, parseLinkLocal } from '../../cpe/dhcp6/udp6.js';
import {
  type Dhcp6Message,
  dnsServers,
  duidLl,
  emit6,
  encodeIaNa,
  encodeIaPd,
  encodeOption,
  iaNas,
  iaPds,
  Msg,
  Opt6,
  option,
  parse6,
  Status,
  u16,
} from '../../cpe/dhcp6/wire.js';
import type { Cmd } from '../../cpe/net/plan.js';
import type { SlaacState } from '../../cpe/net/slaac.js';
import type { PmAddress } from '../../src/mptcp/pm/client.js';
import { tempDir } from './lib/temp-dir.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MAC = '02:00:00:00:00:01';
const CLIENT_DUID = '0003 0001 020000000001';
const SERVER_DUID = hex('0003 0001 020000000002');

// A Reply (RFC 8415 8) with client and server ids, an IA_NA (21.4: IAID 1, T1 100, T2 160) holding
// an IAADDR (21.6: 2001:db8:20::1000, preferred 200, valid 300) and an IA_PD (21.21) holding an
// IAPREFIX (21.22: preferred 200, valid 300, /56 2001:db8:30:100::), DNS servers (RFC 3646).
const REPLY = hex(`
  07 123456
  0001 000a ${CLIENT_DUID}
  0002 000a 0003 0001 020000000002
  0003 0028 00000001 00000064 000000a0
    0005 0018 20010db8002000000000000000001000 000000c8 0000012c
  0019 0029 00000001 00000064 000000a0
    001a 0019 000000c8 0000012c 38 20010db8003001000000000000000000
  0017 0010 20010db8002000000000000000000001
`);

describe('DHCPv6 wire (RFC 8415)', () => {
  it('reads a Reply: header, ids, IA_NA/IAADDR, IA_PD/IAPREFIX, DNS', () => {
    const m = parse6(REPLY) as Dhcp6Message;
    expect(typeof m).toBe('object');
    expect(m.type).toBe(Msg.REPLY);
    expect(m.xid).toBe(0x123456);
    expect(option(m, Opt6.CLIENTID)).toEqual(duidLl(MAC));
    expect(option(m, Opt6.SERVERID)).toEqual(SERVER_DUID);
    expect(iaNas(m)).toEqual([
      {
        iaid: 1,
        t1: 100,
        t2: 160,
        status: Status.Success,
        statusMessage: '',
        items: [{ address: '2001:db8:20::1000', preferred: 200, valid: 300 }],
      },
    ]);
    expect(iaPds(m)).toEqual([
      {
        iaid: 1,
        t1: 100,
        t2: 160,
        status: Status.Success,
        statusMessage: '',
        items: [{ prefix: '2001:db8:30:100::', length: 56, preferred: 200, valid: 300 }],
      },
    ]);
    expect(dnsServers(m)).toEqual(['2001:db8:20::1']);
  });

  it('writes what it reads: the same bytes back', () => {
    const m = parse6(REPLY) as Dhcp6Message;
    expect(emit6(m)).toEqual(REPLY);
    const na = encodeIaNa(1, [{ address: '2001:db8:20::1000', preferred: 200, valid: 300 }]);
    const pd = encodeIaPd(1, [{ prefix: '2001:db8:30:100::', length: 56, preferred: 200, valid: 300 }]);
    // The encoder leaves T1 and T2 0 (RFC 8415 18.2: the client's are hints, 0 = no preference).
    const zeroTimes = Buffer.from(REPLY.subarray(32, 32 + 44 + 45));
    zeroTimes.fill(0, 8, 16);
    zeroTimes.fill(0, 44 + 8, 44 + 16);
    expect(Buffer.concat([na, pd])).toEqual(zeroTimes);
  });

  it('an IA status code (21.13) is read with its message', () => {
    const ia = Buffer.concat([
      hex('00000001 00000000 00000000'),
      encodeOption(Opt6.STATUS_CODE, Buffer.concat([u16(2), Buffer.from('none left')])),
    ]);
    const m = parse6(
      emit6({ type: Msg.ADVERTISE, xid: 1, options: [{ code: Opt6.IA_NA, data: ia }] }),
    ) as Dhcp6Message;
    const na = iaNas(m);
    expect(na).toMatchObject([{ status: Status.NoAddrsAvail, statusMessage: 'none left', items: [] }]);
  });

  it('malformed input gives an error value, never an exception', () => {
    expect(parse6(hex('07 1234'))).toMatch(/shorter than its 4-byte header/);
    expect(parse6(hex('07 123456 0001 00'))).toMatch(/option header cut short/);
    expect(parse6(hex('07 123456 0001 0010 0003'))).toMatch(/runs past the end/);
    const short = parse6(hex('07 123456 0003 0004 00000001')) as Dhcp6Message;
    expect(iaNas(short)).toMatch(/IA_NA of 4 bytes/);
    const badAddr = parse6(
      hex('07 123456 0003 0014 00000001 00000000 00000000 0005 0004 00000000'),
    ) as Dhcp6Message;
    expect(iaNas(badAddr)).toMatch(/IAADDR of 4 bytes/);
    const badLen = parse6(
      hex(
        '07 123456 0019 0029 00000001 00000000 00000000 001a 0019 00000000 00000000 81 20010db8003001000000000000000000',
      ),
    ) as Dhcp6Message;
    expect(iaPds(badLen)).toMatch(/prefix length 129/);
    const dns = parse6(hex('07 123456 0017 0003 000000')) as Dhcp6Message;
    expect(dnsServers(dns)).toMatch(/not a multiple of 16/);
    for (let n = 0; n < REPLY.length; n++) {
      const r = parse6(REPLY.subarray(0, n));
      if (typeof r !== 'string') {
        expect(() => iaNas(r)).not.toThrow();
        expect(() => iaPds(r)).not.toThrow();
      }
    }
  });

  it('DUID-LL (11.4): type 3, hardware type 1, the MAC', () => {
    expect(duidLl(MAC)).toEqual(hex(CLIENT_DUID));
  });

  it('the link-local address from ip -j, skipping a tentative one', () => {
    const j = JSON.stringify([
      {
        addr_info: [
          { family: 'inet6', local: 'fe80::1', tentative: true },
          { family: 'inet6', local: 'fe80::2' },
        ],
      },
    ]);
    expect(parseLinkLocal(j)).toBe('fe80::2');
    expect(parseLinkLocal('not json')).toBeUndefined();
  });
});

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

class FakeTransport implements Dhcp6Transport {
  sent: { msg: Dhcp6Message; at: number }[] = [];
  handler: ((b: Buffer) => void) | undefined;
  closed = false;
  constructor(private readonly clock: FakeClock) {}
  send(payload: Buffer): void {
    const m = parse6(payload);
    if (typeof m === 'string') throw new Error(`client sent a malformed message: ${m}`);
    this.sent.push({ msg: m, at: this.clock.now() });
  }
  onMessage(fn: (b: Buffer) => void): void {
    this.handler = fn;
  }
  close(): void {
    this.closed = true;
  }
  last(): Dhcp6Message {
    return this.sent[this.sent.length - 1].msg;
  }
  /** A server's answer of `type` to the last message: the address and prefix, with lifetimes. */
  answer(
    type: Msg,
    opts: {
      server?: Buffer;
      pref?: number;
      valid?: number;
      t1?: number;
      t2?: number;
      status?: Status;
      xid?: number;
    } = {},
  ): void {
    const q = this.last();
    const valid = opts.valid ?? 300;
    const ia = (code: number, item: Buffer) =>
      encodeOption(
        code,
        Buffer.concat([
          hex(
            `00000001 ${(opts.t1 ?? 100).toString(16).padStart(8, '0')} ${(opts.t2 ?? 160).toString(16).padStart(8, '0')}`,
          ),
          item,
        ]),
      );
    const status = opts.status === undefined ? [] : [{ code: Opt6.STATUS_CODE, data: u16(opts.status) }];
    const na = encodeIaNa(1, [{ address: '2001:db8:20::1000', preferred: 200, valid }]);
    const pd = encodeIaPd(1, [{ prefix: '2001:db8:30:100::', length: 56, preferred: 200, valid }]);
    const nat = parse6(Buffer.concat([hex('07000000'), na, pd])) as Dhcp6Message;
    const m: Dhcp6Message = {
      type,
      xid: opts.xid ?? q.xid,
      options: [
        { code: Opt6.CLIENTID, data: option(q, Opt6.CLIENTID) as Buffer },
        { code: Opt6.SERVERID, data: opts.server ?? SERVER_DUID },
        ...(opts.pref === undefined ? [] : [{ code: Opt6.PREFERENCE, data: Buffer.from([opts.pref]) }]),
        ...status,
        ...nat.options.map((o) => ({
          code: o.code,
          data:
            opts.t1 === undefined && opts.t2 === undefined
              ? o.data
              : ia(o.code, o.data.subarray(12)).subarray(4),
        })),
      ],
    };
    this.handler?.(emit6(m));
  }
}

function setup(prefixLength: number | null = 56) {
  const clock = new FakeClock();
  const transport = new FakeTransport(clock);
  const client = new Dhcp6Client({
    interface: 'lte0',
    mac: MAC,
    prefixLength: prefixLength ?? undefined,
    clock,
    transport,
    rand: () => 0,
    logger: pino({ level: 'silent' }),
  });
  const events: string[] = [];
  let lease: Dhcp6Lease | undefined;
  client.on('bound', (l) => {
    events.push('bound');
    lease = l;
  });
  client.on('renewed', (l) => {
    events.push('renewed');
    lease = l;
  });
  client.on('lost', (_l, why) => events.push(`lost: ${why}`));
  return { clock, transport, client, events, lease: () => lease };
}

describe('DHCPv6 client (RFC 8415 18.2)', () => {
  it('Solicit with empty IA_NA and an IA_PD with the length hint; retransmits at 1 s, 2 s, 4 s (15)', () => {
    const { clock, transport, client } = setup();
    client.start();
    const s = transport.last();
    expect(s.type).toBe(Msg.SOLICIT);
    expect(option(s, Opt6.CLIENTID)).toEqual(duidLl(MAC));
    expect(option(s, Opt6.ELAPSED_TIME)).toEqual(u16(0));
    expect(iaNas(s)).toMatchObject([{ iaid: 1, items: [] }]);
    expect(iaPds(s)).toMatchObject([{ iaid: 1, items: [{ prefix: '::', length: 56 }] }]);
    clock.advance(7200);
    // The first Solicit's RAND is > 0 (18.2.1): 1.01 s, then doubling.
    expect(transport.sent.map((x) => x.at - 1_000_000)).toEqual([0, 1010, 3030, 7070]);
    expect(option(transport.last(), Opt6.ELAPSED_TIME)).toEqual(u16(707));
    expect(new Set(transport.sent.map((x) => x.msg.xid)).size).toBe(1);
  });

  it('collects Advertises during the first RT and requests the most preferred; Reply binds', () => {
    const { clock, transport, client, events, lease } = setup();
    client.start();
    const other = hex('0003 0001 020000000003');
    transport.answer(Msg.ADVERTISE, { server: other, pref: 10 });
    transport.answer(Msg.ADVERTISE, { pref: 20 });
    expect(client.state).toBe('soliciting');
    clock.advance(1010);
    const r = transport.last();
    expect(r.type).toBe(Msg.REQUEST);
    expect(option(r, Opt6.SERVERID)).toEqual(SERVER_DUID);
    expect(iaNas(r)).toMatchObject([{ items: [{ address: '2001:db8:20::1000' }] }]);
    expect(iaPds(r)).toMatchObject([{ items: [{ prefix: '2001:db8:30:100::', length: 56 }] }]);
    transport.answer(Msg.REPLY);
    expect(events).toEqual(['bound']);
    expect(lease()).toMatchObject({
      address: { address: '2001:db8:20::1000', preferred: 200, valid: 300 },
      prefix: { prefix: '2001:db8:30:100::', length: 56 },
      t1: 100,
      t2: 160,
      expiresAt: clock.t + 300_000 - 0,
    });
  });

  it('preference 255 is taken at once; a reply with another xid or client id is ignored', () => {
    const { transport, client, events } = setup();
    client.start();
    transport.answer(Msg.ADVERTISE, { pref: 255 });
    expect(transport.last().type).toBe(Msg.REQUEST);
    transport.answer(Msg.REPLY, { xid: transport.last().xid ^ 1 });
    expect(events).toEqual([]);
    transport.answer(Msg.REPLY);
    expect(events).toEqual(['bound']);
  });

  it('Renew at T1 to the server, Rebind at T2 without it, lost at the end of the valid lifetime', () => {
    const { clock, transport, client, events } = setup();
    client.start();
    transport.answer(Msg.ADVERTISE, { pref: 255 });
    transport.answer(Msg.REPLY);
    const t0 = clock.t;
    clock.advance(100_000);
    const renew = transport.last();
    expect([renew.type, clock.t - t0]).toEqual([Msg.RENEW, 100_000]);
    expect(option(renew, Opt6.SERVERID)).toEqual(SERVER_DUID);
    expect(iaNas(renew)).toMatchObject([{ items: [{ address: '2001:db8:20::1000' }] }]);
    clock.advance(60_000);
    const rebind = transport.last();
    expect(rebind.type).toBe(Msg.REBIND);
    expect(option(rebind, Opt6.SERVERID)).toBeUndefined();
    expect(transport.sent.filter((s) => s.msg.type === Msg.RENEW).map((s) => s.at - t0)).toEqual([
      100_000, 110_000, 130_000,
    ]);
    clock.advance(140_000);
    expect(events).toEqual(['bound', 'lost: lease expired']);
    expect([client.state, transport.last().type]).toEqual(['soliciting', Msg.SOLICIT]);
  });

  it('a Renew answered: renewed, the times count from the Renew', () => {
    const { clock, transport, client, events, lease } = setup();
    client.start();
    transport.answer(Msg.ADVERTISE, { pref: 255 });
    transport.answer(Msg.REPLY);
    clock.advance(100_000);
    const at = clock.t;
    transport.answer(Msg.REPLY, { valid: 600 });
    expect(events).toEqual(['bound', 'renewed']);
    expect(lease()?.expiresAt).toBe(at + 600_000);
    expect(client.state).toBe('bound');
  });

  it('T1 and T2 of 0: 0.5 and 0.8 of the preferred lifetime (18.2.4)', () => {
    const { transport, client, lease } = setup();
    client.start();
    transport.answer(Msg.ADVERTISE, { pref: 255 });
    transport.answer(Msg.REPLY, { t1: 0, t2: 0 });
    expect([lease()?.t1, lease()?.t2]).toEqual([100, 160]);
  });

  it('NoBinding to a Renew: the lease is lost and the client solicits again', () => {
    const { clock, transport, client, events } = setup(null);
    client.start();
    expect(iaPds(transport.last())).toEqual([]);
    transport.answer(Msg.ADVERTISE, { pref: 255 });
    transport.answer(Msg.REPLY);
    clock.advance(100_000);
    const q = transport.last();
    const ia = Buffer.concat([
      hex('00000001 00000000 00000000'),
      encodeOption(Opt6.STATUS_CODE, u16(Status.NoBinding)),
    ]);
    transport.handler?.(
      emit6({
        type: Msg.REPLY,
        xid: q.xid,
        options: [
          { code: Opt6.CLIENTID, data: duidLl(MAC) },
          { code: Opt6.SERVERID, data: SERVER_DUID },
          { code: Opt6.IA_NA, data: ia },
        ],
      }),
    );
    expect(events[1]).toMatch(/^lost: Reply from the server: IA_NA NoBinding/);
    expect(client.state).toBe('soliciting');
  });

  it('an Advertise with NoAddrsAvail is ignored (18.2.9)', () => {
    const { clock, transport, client } = setup(null);
    client.start();
    transport.answer(Msg.ADVERTISE, { status: Status.NoAddrsAvail, pref: 255 });
    clock.advance(1010);
    expect(transport.last().type).toBe(Msg.SOLICIT);
  });

  it('Release at stop names the server and the lease', () => {
    const { transport, client } = setup();
    client.start();
    transport.answer(Msg.ADVERTISE, { pref: 255 });
    transport.answer(Msg.REPLY);
    client.release();
    const rel = transport.last();
    expect(rel.type).toBe(Msg.RELEASE);
    expect(option(rel, Opt6.SERVERID)).toEqual(SERVER_DUID);
    expect(iaNas(rel)).toMatchObject([{ items: [{ address: '2001:db8:20::1000' }] }]);
    expect([client.state, transport.closed]).toEqual(['stopped', true]);
  });
});

describe('a dhcpv6 uplink with delegation (cpe/daemon/uplinks.ts)', () => {
  it('RAs for the router only; the lease puts a /128 on the interface, routes the table, reports the prefix; stop releases', () => {
    const text = `lan: {interface: lan0, addresses: [198.18.5.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, role: primary}
  - {name: lte, interface: lte0, addressing: dhcpv6, delegation: {prefixLength: 56}, role: overflow}
hag: {addresses: [198.18.100.1, "2001:db8:100::1"]}
state: {directory: ${tempDir('ha-dhcp6-')}}
`;
    const r = parseCpeConfig(text, 'cpe.yaml', { interfaceExists: (n) => n !== 'cpe0' });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const calls: PmAddress[] = [];
    const pm = {
      setAddress: (_now: number, a: PmAddress) => calls.push({ ...a }),
      addressOf: () => undefined,
    };
    const ups = new Uplinks(r.value, pm as never, pino({ level: 'silent' }), () => []);
    const cmds: string[] = [];
    ups.netExec = (c: Cmd) => {
      cmds.push(c.argv.join(' '));
      return undefined;
    };
    let state: SlaacState = { address: undefined, prefixLength: undefined, router: undefined };
    ups.slaac = () => state;
    const transport = new FakeTransport(new FakeClock());
    // No link-local address yet at start: the client starts at the next tick.
    let ready = false;
    ups.dhcp6Transport = () => (ready ? transport : undefined);
    ups.dhcp6Mac = () => MAC;
    const delegated: unknown[] = [];
    ups.on('delegation', (u, p) => delegated.push([u.name, p?.prefix, p?.length]));
    ups.start(0);
    const lte = ups.list[1];
    expect(cmds).toContain('sysctl -qw net.ipv6.conf.lte0.accept_ra=2 net.ipv6.conf.lte0.autoconf=0');
    expect(transport.sent).toEqual([]);
    ready = true;
    // The RA names the router; an address the kernel would have made of it is not taken.
    state = { address: '2001:db8:20::cc', prefixLength: 64, router: 'fe80::1' };
    ups.tick();
    expect([lte.address, lte.gateway6, lte.reason]).toEqual([undefined, 'fe80::1', 'no-address']);
    expect(iaPds(transport.last())).toMatchObject([{ items: [{ length: 56 }] }]);
    transport.answer(Msg.ADVERTISE, { pref: 255 });
    transport.answer(Msg.REPLY);
    expect(lte.address).toBe('2001:db8:20::1000');
    expect(cmds).toContain(
      'ip -6 addr replace 2001:db8:20::1000/128 dev lte0 valid_lft 300 preferred_lft 200 noprefixroute nodad',
    );
    expect(cmds).toContain('ip -6 route replace default via fe80::1 dev lte0 table 201');
    expect(calls.filter((c) => c.id === 2).at(-1)).toMatchObject({ up: true });
    expect(delegated).toEqual([['lte', '2001:db8:30:100::', 56]]);
    ups.stop();
    expect(transport.last().type).toBe(Msg.RELEASE);
    expect(cmds.at(-1)).toBe('ip -6 addr del 2001:db8:20::1000/128 dev lte0');
  });
});
