// RFC 8803 Convert wire format: round trips of every TLV (property-based for Connect), and
// malformed input giving typed errors with the RFC's error codes, never exceptions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONVERT_ERROR,
  CONVERT_TLV,
  type ConvertTlv,
  convertErrorMessage,
  convertErrorName,
  decodeConvert,
  encodeConvert,
} from '../../src/convert/index.js';

function decodeOk(buf: Uint8Array) {
  const r = decodeConvert(buf);
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
}

describe('Convert encode/decode round trips', () => {
  it('Connect TLV with an IPv4 address is carried IPv4-mapped (RFC 8803 4.2.2)', () => {
    const buf = encodeConvert([
      { type: 'connect', port: 8080, address: Uint8Array.of(198, 18, 3, 2), tcpOptions: new Uint8Array() },
    ]);
    expect(buf.length).toBe(24);
    expect([...buf.subarray(0, 4)]).toEqual([1, 6, 0, 0]);
    expect([...buf.subarray(4, 8)]).toEqual([CONVERT_TLV.connect, 5, 0x1f, 0x90]);
    expect([...buf.subarray(8, 24)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 3, 2]);
    const r = decodeOk(buf);
    expect(r.consumed).toBe(24);
    const t = r.message.tlvs[0];
    expect(t.type).toBe('connect');
    if (t.type === 'connect') {
      expect(t.port).toBe(8080);
      expect([...t.address]).toEqual([198, 18, 3, 2]);
      expect(t.tcpOptions.length).toBe(0);
    }
  });

  it('Connect TLV round trips any address, port and options (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        fc.integer({ min: 1, max: 65535 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 100 }),
        (address, port, opts, trailing) => {
          // Options are padded to a word with zeros (EOL), so give whole words.
          const tcpOptions = opts.subarray(0, opts.length & ~3);
          const msg = encodeConvert([{ type: 'connect', port, address, tcpOptions }]);
          const withData = new Uint8Array(msg.length + trailing.length);
          withData.set(msg);
          withData.set(trailing, msg.length);
          const r = decodeOk(withData);
          expect(r.consumed).toBe(msg.length);
          const t = r.message.tlvs[0];
          if (t.type !== 'connect') throw new Error('not connect');
          expect(t.port).toBe(port);
          const mapped =
            address.length === 16 && address.subarray(0, 12).every((b, i) => b === (i >= 10 ? 255 : 0));
          expect([...t.address]).toEqual(mapped ? [...address.subarray(12)] : [...address]);
          expect([...t.tcpOptions]).toEqual([...tcpOptions]);
        },
      ),
    );
  });

  it('Info, Supported TCP Extensions, Cookie, Extended TCP Header and Error TLVs round trip', () => {
    const tlvs: ConvertTlv[] = [
      { type: 'info' },
      { type: 'supportedTcpExtensions', kinds: [2, 3, 4, 8, 30] },
      { type: 'cookie', cookie: Uint8Array.of(1, 2, 3, 4, 5) },
      { type: 'extendedTcpHeader', header: new Uint8Array(20).fill(7) },
      { type: 'error', code: CONVERT_ERROR.destinationUnreachable, value: Uint8Array.of(0) },
    ];
    const r = decodeOk(encodeConvert(tlvs));
    const [info, sup, cookie, ext, err] = r.message.tlvs;
    expect(info).toEqual({ type: 'info' });
    expect(sup).toEqual({ type: 'supportedTcpExtensions', kinds: [2, 3, 4, 8, 30] });
    // Cookies are padded to a word; the padding comes back as zeros.
    if (cookie.type !== 'cookie') throw new Error('cookie');
    expect([...cookie.cookie]).toEqual([1, 2, 3, 4, 5, 0, 0, 0]);
    if (ext.type !== 'extendedTcpHeader') throw new Error('ext');
    expect(ext.header.length).toBe(20);
    if (err.type !== 'error') throw new Error('error');
    expect(err.code).toBe(97);
  });

  it('a header alone (the converter accepting a connect) is one word', () => {
    const buf = encodeConvert([]);
    expect([...buf]).toEqual([1, 1, 0, 0]);
    expect(decodeOk(buf).message.tlvs).toEqual([]);
  });

  it('convertErrorMessage builds a one-TLV message', () => {
    const r = decodeOk(convertErrorMessage(CONVERT_ERROR.notAuthorized));
    expect(r.message.tlvs[0]).toMatchObject({ type: 'error', code: 32 });
    expect(convertErrorName(32)).toBe('notAuthorized');
    expect(convertErrorName(200)).toBe('error 200');
  });

  it('unknown TLV types are returned for the caller to refuse', () => {
    const buf = Uint8Array.of(1, 2, 0, 0, 99, 1, 0, 0);
    expect(decodeOk(buf).message.tlvs[0]).toMatchObject({ type: 'unknown', code: 99 });
  });

  it('encoding a value the format cannot carry is a programmer error (RangeError)', () => {
    expect(() =>
      encodeConvert([{ type: 'connect', port: 0, address: new Uint8Array(4), tcpOptions: new Uint8Array() }]),
    ).toThrow(RangeError);
    expect(() => encodeConvert([{ type: 'cookie', cookie: new Uint8Array(2000) }])).toThrow(RangeError);
  });
});

describe('Convert malformed input', () => {
  const connect = encodeConvert([
    { type: 'connect', port: 80, address: Uint8Array.of(198, 18, 3, 2), tcpOptions: new Uint8Array() },
  ]);

  it('every truncation of a valid message asks for more bytes', () => {
    for (let n = 0; n < connect.length; n++) {
      const r = decodeConvert(connect.subarray(0, n));
      expect(r.kind).toBe('incomplete');
      if (r.kind === 'incomplete') expect(r.need).toBeGreaterThan(n);
    }
  });

  it('a wrong version is Unsupported Version (0)', () => {
    const r = decodeConvert(Uint8Array.of(2, 1, 0, 0));
    expect(r).toMatchObject({ kind: 'error', error: { code: CONVERT_ERROR.unsupportedVersion } });
  });

  it('Total Length 0 is Malformed Message (1)', () => {
    expect(decodeConvert(Uint8Array.of(1, 0, 0, 0))).toMatchObject({ kind: 'error', error: { code: 1 } });
  });

  it('a TLV with Length 0 or running past Total Length is malformed', () => {
    expect(decodeConvert(Uint8Array.of(1, 2, 0, 0, 10, 0, 0, 0))).toMatchObject({
      kind: 'error',
      error: { code: 1 },
    });
    expect(decodeConvert(Uint8Array.of(1, 2, 0, 0, 10, 5, 0, 0))).toMatchObject({
      kind: 'error',
      error: { code: 1 },
    });
  });

  it('a Connect TLV shorter than 5 words, with port 0, or an Info TLV of the wrong size is malformed', () => {
    expect(decodeConvert(Uint8Array.of(1, 2, 0, 0, 10, 1, 0, 80))).toMatchObject({ kind: 'error' });
    const zeroPort = connect.slice();
    zeroPort[6] = 0;
    zeroPort[7] = 0;
    expect(decodeConvert(zeroPort)).toMatchObject({ kind: 'error', error: { code: 1 } });
    expect(decodeConvert(Uint8Array.of(1, 3, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0))).toMatchObject({ kind: 'error' });
  });

  it('random bytes never throw (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1100 }), (b) => {
        const r = decodeConvert(b);
        expect(['ok', 'incomplete', 'error']).toContain(r.kind);
        if (r.kind === 'ok') expect(r.consumed).toBeLessThanOrEqual(b.length);
      }),
    );
  });
});
