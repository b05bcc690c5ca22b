// The LAN's router advertisements (cpe/ra): the RA's bytes (RFC 4861 4.2 and 4.6, RFC 8106 5.1
// and 5.2) against a hand-assembled vector, round trips, malformed input as values, router
// solicitations (RFC 4861 6.1.1), and the schedule in virtual time (6.2.4, 6.2.6).
import { describe, expect, it } from 'vitest';
import {
  MAX_INITIAL_RTR_ADVERT_INTERVAL,
  MAX_RA_DELAY_TIME,
  MIN_DELAY_BETWEEN_RAS,
  RaSchedule,
} from '../../cpe/ra/schedule.js';
import { encodeRa, parseRa, parseRs, type RouterAdvertisement } from '../../cpe/ra/wire.js';

const RA: RouterAdvertisement = {
  curHopLimit: 64,
  managed: false,
  other: false,
  routerLifetime: 1800,
  reachableTime: 0,
  retransTimer: 0,
  sourceLinkLayer: '02:00:5e:10:00:01',
  mtu: 1492,
  prefixes: [
    {
      prefix: '2001:db8:1::',
      length: 64,
      onLink: true,
      autonomous: true,
      validLifetime: 2592000,
      preferredLifetime: 604800,
    },
  ],
  dns: { servers: ['2001:db8:1::1'], lifetime: 1800 },
  domains: { names: ['home.example'], lifetime: 1800 },
};

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('router advertisement wire format', () => {
  it('encodes header and options byte for byte (RFC 4861 4.2, 4.6.1, 4.6.4, 4.6.2; RFC 8106 5.1, 5.2)', () => {
    const want = hex(`
      86 00 0000  40 00 0708  00000000  00000000
      01 01 02005e100001
      05 01 0000 000005d4
      03 04 40 c0 00278d00 00093a80 00000000 20010db8000100000000000000000000
      19 03 0000 00000708 20010db8000100000000000000000001
      1f 03 0000 00000708 04686f6d65076578616d706c6500 0000
    `);
    expect(encodeRa(RA).toString('hex')).toBe(want.toString('hex'));
    expect(encodeRa(RA).length % 8).toBe(0);
  });

  it('round-trips, with flags, several prefixes, DNS servers and names', () => {
    const ra: RouterAdvertisement = {
      ...RA,
      managed: true,
      other: true,
      curHopLimit: 0,
      reachableTime: 30000,
      retransTimer: 1000,
      prefixes: [
        RA.prefixes[0],
        {
          prefix: 'fd48:4143:5045:1::',
          length: 64,
          onLink: false,
          autonomous: true,
          validLifetime: 0xffffffff,
          preferredLifetime: 0,
        },
      ],
      dns: { servers: ['2001:db8:1::1', '2001:db8:1::53'], lifetime: 600 },
      domains: { names: ['a.example', 'example.org'], lifetime: 600 },
    };
    const r = parseRa(encodeRa(ra));
    expect(r).toEqual({ ok: true, ra });
    // Without the optional parts.
    const bare: RouterAdvertisement = {
      ...RA,
      sourceLinkLayer: undefined,
      mtu: undefined,
      dns: undefined,
      domains: undefined,
    };
    const b = encodeRa(bare);
    expect(b.length).toBe(16 + 32);
    expect(parseRa(b)).toEqual({
      ok: true,
      ra: { ...bare, sourceLinkLayer: undefined, mtu: undefined, dns: undefined, domains: undefined },
    });
  });

  it('reads malformed advertisements as error values, never out of bounds', () => {
    const good = encodeRa(RA);
    expect(parseRa(good.subarray(0, 15))).toEqual({ ok: false, error: { kind: 'truncated', length: 15 } });
    const code = Buffer.from(good);
    code[1] = 1;
    expect(parseRa(code)).toEqual({ ok: false, error: { kind: 'bad-code', code: 1 } });
    const zero = Buffer.from(good);
    zero[17] = 0; // the first option's length (RFC 4861 4.6: zero is invalid)
    expect(parseRa(zero)).toMatchObject({ ok: false, error: { kind: 'bad-option', offset: 16 } });
    // Every truncation of the options is refused or read within its bytes.
    for (let n = 16; n < good.length; n++) {
      const r = parseRa(good.subarray(0, n));
      expect(r.ok ? r.ra.prefixes.length <= 1 : r.error.kind).toBeTruthy();
    }
    // Unknown options are skipped (RFC 4861 4.6).
    const unknown = Buffer.concat([good, hex('fe01000000000000')]);
    expect(parseRa(unknown)).toEqual({ ok: true, ra: RA });
    // An RDNSS option without an address (RFC 8106 5.1: Length >= 3).
    const noDns = Buffer.concat([good.subarray(0, 16), hex('1901000000000708')]);
    expect(parseRa(noDns)).toMatchObject({ ok: false, error: { kind: 'bad-option' } });
    expect(() => encodeRa({ ...RA, routerLifetime: 70000 })).toThrow(TypeError);
    expect(() => encodeRa({ ...RA, domains: { names: ['a..b'], lifetime: 1 } })).toThrow(TypeError);
  });

  it('reads router solicitations (RFC 4861 4.1, 6.1.1)', () => {
    const rs = hex('85 00 0000 00000000 0101 02005e100002');
    expect(parseRs(rs, 'fe80::5e:10ff:fe00:2')).toEqual({ ok: true, sourceLinkLayer: '02:00:5e:10:00:02' });
    expect(parseRs(rs.subarray(0, 8), '::')).toEqual({ ok: true, sourceLinkLayer: undefined });
    // From the unspecified address a source link-layer option is invalid.
    expect(parseRs(rs, '::')).toMatchObject({ ok: false, error: { kind: 'bad-option' } });
    expect(parseRs(hex('85 01 0000 00000000'))).toEqual({ ok: false, error: { kind: 'bad-code', code: 1 } });
    expect(parseRs(hex('86 00 0000 00000000'))).toMatchObject({ ok: false, error: { kind: 'not-type' } });
    expect(parseRs(hex('85 00 0000 00000000 0100 000000000000'))).toMatchObject({
      ok: false,
      error: { kind: 'bad-option', detail: 'an option of length zero' },
    });
    expect(parseRs(hex('85 00 0000'))).toEqual({ ok: false, error: { kind: 'truncated', length: 4 } });
  });
});

describe('router advertisement schedule (virtual time)', () => {
  const seq = (...xs: number[]) => {
    let i = 0;
    return () => xs[i++ % xs.length];
  };

  it('sends at once, then the first three no more than 16 s apart, then within min..max (RFC 4861 6.2.4)', () => {
    const s = new RaSchedule(1000, 200_000, 600_000, seq(0.9));
    expect(s.due).toBe(1000);
    s.sentAt(1000);
    expect(s.due).toBe(1000 + MAX_INITIAL_RTR_ADVERT_INTERVAL);
    s.sentAt(s.due);
    expect(s.due).toBe(1000 + 2 * MAX_INITIAL_RTR_ADVERT_INTERVAL);
    const t = s.due;
    s.sentAt(t);
    expect(s.due).toBe(t + 200_000 + 0.9 * 400_000);
  });

  it('answers a solicitation within MAX_RA_DELAY_TIME, not sooner than MIN_DELAY_BETWEEN_RAS after the last (6.2.6)', () => {
    const s = new RaSchedule(0, 200_000, 600_000, seq(0.5));
    s.sentAt(0);
    s.sentAt(16_000);
    s.sentAt(32_000);
    const next = s.due;
    s.solicited(100_000);
    expect(s.due).toBe(100_000 + 0.5 * MAX_RA_DELAY_TIME);
    s.sentAt(s.due);
    // Right after one: held back to MIN_DELAY_BETWEEN_RAS after it.
    const last = s.due - (200_000 + 0.5 * 400_000);
    s.solicited(last + 100);
    expect(s.due).toBe(last + MIN_DELAY_BETWEEN_RAS);
    expect(next).toBeGreaterThan(100_000);
  });

  it('a solicitation does not delay an advertisement already due sooner', () => {
    const s = new RaSchedule(0, 3000, 4000, seq(0));
    s.sentAt(0);
    expect(s.due).toBe(3000);
    s.solicited(2900);
    expect(s.due).toBe(3000);
  });
});
